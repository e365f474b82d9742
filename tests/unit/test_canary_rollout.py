"""Rollout settings, trigger overrides, the command driver and the rollback's confirmation."""

from __future__ import annotations

import sys
import time

import pytest

from pytest_spark.canary import rollback, rollout, triggers
from pytest_spark.canary.run import wanted_ids
from pytest_spark.config import defaults


def test_settings_auto_values_for_sandbox_and_real_targets() -> None:
    cfg = defaults()["canary"]
    real = rollout.Settings.resolve(cfg, sandbox=False, job="spark-api")
    box = rollout.Settings.resolve(cfg, sandbox=True, job="spark-api")
    assert (real.window_s, real.min_requests, real.confirm_window_s) == (300.0, 200, 30.0)
    assert (box.window_s, box.min_requests, box.confirm_window_s) == (10.0, 10, 3.0)
    assert box.max_window_s == 240.0 and real.max_window_s == 1200.0
    with pytest.raises(ValueError, match="alpha"):
        rollout.Settings.resolve({**cfg, "alpha": 1.5}, sandbox=True, job="x")


def test_trigger_overrides_parse_and_refuse_nonsense() -> None:
    assert rollout.trigger_overrides(["T01.threshold=0.5", "t02.for=2m"]) == {
        "T01": {"threshold": 0.5},
        "T02": {"for": "2m"},
    }
    for bad in ("T01=0.5", "T01.threshold=fast", "T01."):
        with pytest.raises(ValueError, match=r"canary\.triggers"):
            rollout.trigger_overrides([bad])


def test_sandbox_catalog_keeps_compressed_windows_and_takes_overrides() -> None:
    box = triggers.configured(for_="5s", range_="30s")
    got = rollout.catalog_for(["T01.threshold=0.5"], sandbox_catalog=box)
    by_id = {t.id: t for t in got}
    assert by_id["T01"].threshold == 0.5 and by_id["T02"].for_ == "5s"
    assert len(got) == 16


def test_modes_select_their_checks() -> None:
    assert wanted_ids(stage=25, rollout=False, named=set()) == {"CN-25"}
    assert wanted_ids(stage=None, rollout=True, named=set()) == {
        "CN-00", "CN-01", "CN-05", "CN-25", "CN-50", "CN-100",
    }  # fmt: skip
    assert wanted_ids(stage=None, rollout=False, named={"RB-01", "PF-01"}) == {"RB-01"}
    assert wanted_ids(stage=None, rollout=False, named=set()) == set()


def test_command_driver_runs_argv_without_a_shell() -> None:
    with pytest.raises(ValueError, match="weight"):
        rollout.CommandDriver(["true"], 5)
    rollout.CommandDriver(
        [sys.executable, "-c", "import sys; sys.exit(0)", "{weight}"], 5
    ).set_weight(25)
    failing = rollout.CommandDriver(
        [sys.executable, "-c", "import sys; sys.exit(3)", "{weight}"], 5
    )
    with pytest.raises(RuntimeError, match="exited 3"):
        failing.set_weight(25)


def _rb(command: list[str], counts: tuple[int, int], timeout: float = 5) -> rollback.RollbackRecord:
    return rollback.roll_back(
        detected_at=0.0, haproxy=None, command=command, timeout=timeout,
        confirm_window_s=0.0, confirm=lambda _w: counts,
    )  # fmt: skip


def test_rollback_confirmed_only_with_traffic_and_none_on_the_canary() -> None:
    ok = [sys.executable, "-c", "pass"]
    rec = _rb(ok, (0, 40))
    assert rec.confirmed and rec.confirmed_at is not None and rec.returncode == 0
    assert rec.detected_at <= rec.started_at <= rec.ended_at <= rec.confirmed_at
    assert not _rb(ok, (3, 40)).confirmed
    silent = _rb(ok, (0, 0))
    assert not silent.confirmed and "silence proves nothing" in silent.message


def test_rollback_command_failures_are_reported() -> None:
    rec = _rb([sys.executable, "-c", "import sys; sys.exit(2)"], (0, 40))
    assert not rec.confirmed and "exited 2" in rec.message
    slow = _rb([sys.executable, "-c", "import time; time.sleep(5)"], (0, 40), timeout=0.5)
    assert not slow.confirmed and "did not finish within 0.5 s" in slow.message
    missing = _rb(["/nonexistent/rollback"], (0, 40))
    assert "cannot run /nonexistent/rollback" in missing.message
    with pytest.raises(rollback.RollbackError, match="nothing to roll back with"):
        rollback.roll_back(detected_at=0, haproxy=None, command=[], timeout=1, confirm_window_s=0)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"triggers": ["T01=5"]}, "not ID.KEY=VALUE"),
        ({"traffic_driver": "nginx"}, "use haproxy, command"),
        ({"traffic_driver": "command", "weight_command": ["argo", "set"]}, "{weight}"),
        ({"alpha": 2.0}, r"canary\.alpha"),
        ({"blast_path": "quotes"}, "must start with /"),
    ],
)
def test_bad_canary_settings_stop_the_run_before_any_test(override: dict, message: str) -> None:
    from pytest_spark.config import ConfigError, build

    with pytest.raises(ConfigError, match=message):
        build(path=None, overrides={"canary": override}, environ={})


class _Counts:
    """Prometheus answering the window's request count: ``reads`` is what each successive
    query returns (the last repeats), like a sparse counter whose increase() shrinks once
    the last samples arrive."""

    def __init__(self, reads: list[float]) -> None:
        self.reads, self.queries = reads, 0

    def query(self, promql: str, *, at: float | None = None) -> list[dict]:
        value = self.reads[min(self.queries, len(self.reads) - 1)]
        self.queries += 1
        return [{"metric": {}, "value": [at, str(value)]}]


def test_the_window_ends_only_on_a_count_that_holds_after_the_scrape_lag() -> None:
    """CI: the window stopped at an extrapolated 10 and the gate then read 6 (inconclusive).
    A count that shrinks when read again after the scrape lag keeps the window open."""
    settings = rollout.Settings.resolve(defaults()["canary"], sandbox=True, job="spark-api")
    slept: list[float] = []
    prom = _Counts([12.0, 6.0, 11.0, 11.0])  # 12 -> 6 after the lag; then 11, still 11
    ctx = rollout.StageContext(prom, settings, [], sleep=slept.append)
    start = time.time()
    end = rollout._wait_window(ctx, 100, start)
    assert prom.queries == 4 and start <= end <= time.time()
    assert slept == [settings.window_s, settings.scrape_lag_s, 1.0, settings.scrape_lag_s]
