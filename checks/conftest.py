"""Fixtures the checks share: targets from the run's config, and clients with deadlines.

A check asks for what it needs (``api_urls``, ``db``, ``prometheus`` ...). A target
that is not configured makes the check ERROR ("could not verify"), with the
setting and flag to fix it, never pass silently.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import pytest

from pytest_spark.config import SparkConfig
from pytest_spark.options import TARGET_FLAGS
from pytest_spark.probes import ProbeError

if TYPE_CHECKING:
    from pytest_spark.probes.pages import Clients


def require(cfg: SparkConfig, section: str, key: str) -> Any:
    """The configured value, or a ProbeError that says how to configure it."""
    value = cfg.section(section)[key]
    if value in ("", [], None, 0):
        flags = [f for f, (sec, k, _) in TARGET_FLAGS.items() if (sec, k) == (section, key)]
        flag = flags[0] if flags else ""
        how = f"set {section}.{key} in spark.toml" + (f" or pass {flag}" if flag else "")
        raise ProbeError(f"no {section}.{key} configured: {how} (or use --spark-sandbox)")
    return value


@pytest.fixture(scope="session")
def configured(spark_config: SparkConfig) -> Callable[[str], Any]:
    """``configured("targets.ntp_servers")``: the value, or an ERROR that says how to set it."""

    def lookup(dotted: str) -> Any:
        section, _, key = dotted.partition(".")
        return require(spark_config, section, key)

    return lookup


@pytest.fixture(scope="session")
def timeout(spark_config: SparkConfig) -> float:
    """Deadline for every network call of a check (policy.timeout_s)."""
    return float(spark_config.policy["timeout_s"])


@pytest.fixture(scope="session")
def max_bytes(spark_config: SparkConfig) -> int:
    """Size cap of every HTTP response body (policy.max_response_mib): larger is an ERROR."""
    from pytest_spark.probes.http import MIB

    return max(1, int(float(spark_config.policy["max_response_mib"]) * MIB))


@pytest.fixture(scope="session")
def thresholds(spark_config: SparkConfig) -> Any:
    return spark_config.thresholds


@pytest.fixture(scope="session")
def release(spark_config: SparkConfig) -> Any:
    return spark_config.release


@pytest.fixture(scope="session")
def schema(spark_config: SparkConfig) -> Any:
    return spark_config.schema


@pytest.fixture
def api_urls(spark_config: SparkConfig) -> list[str]:
    return [u.rstrip("/") for u in require(spark_config, "targets", "api_urls")]


@pytest.fixture(scope="session")
def http(spark_config: SparkConfig, timeout: float, max_bytes: int) -> Iterator[Any]:
    """One httpx client for the run: total deadline and size cap on every request, TLS verified."""
    from pytest_spark.probes.http import make_client

    targets = spark_config.targets
    verify: bool | str = targets["ca_bundle"] or targets["verify_tls"]
    token = targets["auth_token"]
    with make_client(timeout=timeout, verify=verify, token=token, max_bytes=max_bytes) as client:
        yield client


@pytest.fixture(scope="session")
def anonymous_http(spark_config: SparkConfig, timeout: float, max_bytes: int) -> Iterator[Any]:
    """Same deadline and TLS settings as ``http``, but never the API's bearer token."""
    from pytest_spark.probes.http import make_client

    targets = spark_config.targets
    verify: bool | str = targets["ca_bundle"] or targets["verify_tls"]
    with make_client(timeout=timeout, verify=verify, max_bytes=max_bytes) as client:
        yield client


@pytest.fixture
def clients(http: Any, anonymous_http: Any, api_urls: list[str]) -> Clients:
    """``clients.for_url(url)``: ``http`` for the API's own origins, ``anonymous_http`` else."""
    from pytest_spark.probes.pages import Clients

    return Clients(http, anonymous_http, api_urls)


@pytest.fixture
def db(spark_config: SparkConfig, timeout: float) -> Callable[..., AbstractContextManager[Any]]:
    """``with db() as conn``: a read-only session on targets.db_dsn (``writes=True`` if allowed)."""
    from pytest_spark.probes.db import connect

    def open_session(*, writes: bool = False, dsn_key: str = "db_dsn") -> Any:
        dsn = require(spark_config, "targets", dsn_key)
        return connect(dsn, timeout=timeout, read_only=not writes)

    return open_session


@pytest.fixture(scope="session")
def prometheus(spark_config: SparkConfig, timeout: float, max_bytes: int) -> Iterator[Any]:
    """Prometheus queries, each under the run's total deadline and size cap. One client for
    the run: a canary rollout's stages share it (closed when the session ends)."""
    from pytest_spark.probes.prometheus import Prometheus

    url = require(spark_config, "targets", "prometheus_url")
    targets = spark_config.targets
    verify: bool | str = targets["ca_bundle"] or targets["verify_tls"]
    with Prometheus(url, timeout=timeout, verify=verify, max_bytes=max_bytes) as client:
        yield client


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """After -m: keep the canary checks the run's mode asks for (canary/run.py)."""
    from pytest_spark import session
    from pytest_spark.plugin import STATE

    state = config.stash.get(STATE, None)
    if state is None or not any(
        (c := session.check_of(item)) is not None and c.suite == "canary" for item in items
    ):
        return
    from pytest_spark.canary.run import select

    select(config, items, state.config.policy)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """A rollout prints the release one-liner (also stored in the bundle)."""
    run = sys.modules.get("pytest_spark.canary.run")  # loaded only by runs with canary checks
    text = config.stash.get(run.ONELINER, None) if run is not None else None
    if text:
        terminalreporter.write_sep("-", "canary release one-liner")
        terminalreporter.write_line(text)
