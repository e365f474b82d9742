"""Chaos scenarios (CHAOS.md): the fault proxy, providers for Chaos Toolkit, the runner.

Nothing here is imported by a preflight run: chaoslib is loaded only by
:mod:`.runner`, which only the chaos checks call.
"""
