"""The project's own tests. One reference stack serves every test that needs it."""

from __future__ import annotations

# Imported before any in-process pytester run, which drops the modules a run imported:
# anyio's plugin (inline runs sit in tmp dirs where our "-p no:anyio" does not apply)
# imports asyncio, and re-importing it beside the cached _asyncio C module ended in
# "RecursionError" while loading plugins a few runs later.
import asyncio  # noqa: F401
from collections.abc import Iterator
from typing import Any

# Imported once in this process before any in-process pytester run: pytester drops the
# modules an inline run imported, and a re-import would give cryptography new Python
# classes its Rust bindings do not know ("Encryption algorithm must be a
# KeySerializationEncryption instance" when a signing test runs first).
import cryptography.hazmat.primitives.serialization  # noqa: F401
import pytest
from hypothesis import HealthCheck, settings

# Ours alone (never in a user's run of checks/, so not in pyproject's addopts): the
# plugin tests drive synthetic suites through pytester.
pytest_plugins = ("pytester",)

# Our CI is a shared 2-core machine: hypothesis's timing checks (too_slow, the 200 ms
# deadline) measure the machine's load, not our code. Correctness settings stay default.
settings.register_profile("spark-ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("spark-ci")


# `make test` runs the stack tests (tests/sandbox, tests/checks) on three xdist workers
# with --dist loadscope; the scheduler below makes each scope a third of the files.
# Each worker starts its own stack (the session fixture below), so one worker's faults
# never meet another's checks. The stack tests mostly wait for Prometheus windows and
# chaos/canary timelines rather than compute, so three stacks share 2 cores. The
# thirds are balanced on measured CI durations (seconds, 2026-11-30): the two chaos
# files (~400 each) lead two stacks, the canary checks (~300) and rollout (~165) the
# third. (xdist's loadgroup marks do not take effect under pytest 9, which no longer
# reads Item._nodeid.)
STACKS = {
    "stack-a": (
        "test_chaos_scenarios.py", "test_contract_checks.py", "test_database_checks.py",
        "test_operations_checks.py", "test_user_runs.py", "test_imports.py",
        "test_read_only.py",
    ),
    "stack-b": (
        "test_chaos_catalog.py", "test_observability_checks.py", "test_startup_kill.py",
        "test_stack.py", "test_chaos_proxy_traffic.py", "test_http_release_checks.py",
        "test_deadline_checks.py",
    ),
}  # fmt: skip
STACK_OF = {name: stack for stack, names in STACKS.items() for name in names}


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class StackThirds(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            name = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
            return STACK_OF.get(name, "stack-c")  # canary checks, rollout, the rest

    return StackThirds(config, log)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The stack, up and with Prometheus data; down even when tests fail."""
    from pytest_spark.sandbox.launcher import Sandbox

    box = Sandbox(tmp_path_factory.mktemp("sandbox") / "state")
    try:
        box.up(timeout=60)
        box.wait_for_data(timeout=30)
        yield box
    finally:
        box.down()


@pytest.fixture(scope="session")
def endpoints(sandbox: Any) -> Any:
    return sandbox.endpoints


@pytest.fixture
def quiet_history(sandbox: Any) -> Any:
    """Call before a healthy-stack run: ``quiet_history()`` is True if it reset Prometheus."""
    return lambda: _quiet_history(sandbox)


@pytest.fixture
def quiet_start(sandbox: Any) -> None:
    """For tests that judge alerts or the SLO windows: start without the alerts and slow
    windows of the test before (which one that is depends on the split over workers)."""
    if not sandbox.active_faults():
        _quiet_history(sandbox)


@pytest.fixture
def fresh_after(sandbox: Any) -> Iterator[None]:
    """For tests that inject a canary fault: leave an empty TSDB behind. A reverted
    fault's trigger can fire only after the test (T09's leak slope over its window),
    when no alert was firing or pending for ``quiet_start`` to see."""
    yield
    from pytest_spark.sandbox.faults import fresh_history

    leaked = sandbox.active_faults()
    assert not leaked, f"the test left faults applied: {leaked}"  # blame it, not the next
    fresh_history(sandbox)


def _quiet_history(box: Any) -> bool:
    """Give a healthy-stack run a history without earlier tests' faults; True if reset.

    Faults are reverted, but their 5xx and slow requests stay in Prometheus's
    windows: a preflight run minutes after a canary-latency test would judge
    PF-09's 5m baseline (and the burn-rate alerts) on them. When an alert is
    firing or pending, or the baseline's 5xx ratio or p95 breaks the default
    SLO, the stack gets an empty TSDB, as the error-burst revert does.
    """
    import httpx

    from pytest_spark.rules import burnrate
    from pytest_spark.rules import metrics_catalog as mc
    from pytest_spark.sandbox.faults import fresh_history

    def query(promql: str) -> list[dict[str, Any]]:
        url = f"{box.endpoints.prometheus_url}/api/v1/query"
        resp = httpx.get(url, params={"query": promql}, timeout=5)
        resp.raise_for_status()
        return list(resp.json()["data"]["result"])

    judged = {"error_rate_5xx", "api_p95_latency_seconds"}
    values: dict[str, float | None] = {}
    try:
        for metric in mc.CANARY_METRICS:
            if metric.key in judged:
                result = query(metric.query("spark-api", "5m"))
                values[metric.key] = float(result[0]["value"][1]) if result else None
        noisy = bool(query("ALERTS"))
    except httpx.HTTPError:
        return False  # no Prometheus to ask (a test stopped it): nothing to reset
    # no data (NaN: no requests in the window) is not a fault's tail; a reset cannot help
    breaks = [f for f in burnrate.evaluate_baseline(values) if not f.code.startswith("no-data")]
    if noisy or breaks:
        fresh_history(box)
        return True
    return False
