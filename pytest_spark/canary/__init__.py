"""Canary: the trigger catalog, the stage gates' statistics and the rollout driver.

Laid out by the canary's lifecycle (STYLE.md): ``triggers`` (the catalog, one
source of truth), ``rules`` (what Prometheus, promtool and Grafana get from it),
``evaluate`` (which triggers fire, with every query and value as evidence).
"""
