"""The canary checks' pytest side: which CN/RB checks a run selects, and the run's state.

Modes (CANARY.md): ``--spark-stage N`` observes one stage (CN-N), ``--spark-rollout``
drives CN-00 then every stage in order (needs --spark-allow-disruptive, refused in
production), ``--spark-check ID`` names checks explicitly (RB-01, the drill, only
that way). Canary checks no mode selects are deselected, so a full ``pytest
checks/`` run is not blocked by gates nobody asked for; ``-m canary`` without a
mode is a usage error, not an empty GO.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .. import catalog
from ..options import selected_ids
from .stages import STAGES, check_id

ONELINER = pytest.StashKey[str]()
DRILL = "RB-01"


def wanted_ids(*, stage: int | None, rollout: bool, named: set[str]) -> set[str]:
    """Canary check ids a run keeps (pure)."""
    keep = {i for i in named if i in catalog.BY_ID and catalog.BY_ID[i].suite == "canary"}
    if rollout:
        keep |= {"CN-00", *(check_id(w) for w in STAGES)}
    if stage is not None:
        keep.add(check_id(stage))
    return keep


def select(config: pytest.Config, items: list[pytest.Item], policy: Any) -> None:
    """pytest_collection_modifyitems (after -m): keep only the canary checks asked for."""
    from .. import session

    stage = config.getoption("spark_stage", None)
    rollout = bool(config.getoption("spark_rollout", False))
    if stage is not None and stage not in STAGES:
        raise pytest.UsageError(
            f"--spark-stage {stage}: stages are {', '.join(map(str, STAGES))} (percent)"
        )
    if rollout and stage is not None:
        raise pytest.UsageError("--spark-rollout drives every stage: drop --spark-stage")
    if rollout and policy["production"]:
        raise pytest.UsageError("--spark-rollout is refused when policy.production = true")
    if rollout and not policy["allow_disruptive"]:
        raise pytest.UsageError("--spark-rollout changes traffic: pass --spark-allow-disruptive")
    keep_ids = wanted_ids(stage=stage, rollout=rollout, named=selected_ids(config))
    keep, drop = [], []
    for item in items:
        check = session.check_of(item)
        is_canary = check is not None and check.suite == catalog.Suite.CANARY
        (drop if is_canary and check.id not in keep_ids else keep).append(item)
    markexpr = str(getattr(config.option, "markexpr", "") or "")
    if drop and not keep_ids and "canary" in markexpr:
        raise pytest.UsageError(
            "-m canary needs --spark-stage N (observe one stage), --spark-rollout (drive "
            "every stage, with --spark-allow-disruptive) or --spark-check CN-xx / RB-01"
        )
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@dataclass
class CanaryRun:
    """State shared by the canary checks of one run (module-scoped fixture)."""

    config: Any  # SparkConfig
    box: Any  # the sandbox, or None
    evidence_dir: Path
    rollout: bool
    rollback: bool
    stopped_at: str = ""
    results: list[Any] = field(default_factory=list)
    carried_baseline: Any = None
    blast: dict[str, Any] | None = None  # CN-00's outcome and rollback, for the one-liner
    _rate_file: Path | None = None
    _rate_before: str | None = None
    _ctx: Any = None

    @property
    def canary_cfg(self) -> Any:
        return self.config.canary

    def settings(self) -> Any:
        from .rollout import Settings

        return Settings.resolve(
            self.canary_cfg, sandbox=self.box is not None, job=self.config.targets["api_job"]
        )

    def haproxy(self) -> Any:
        from .traffic import HaproxyRuntime

        cfg = self.canary_cfg
        if cfg["haproxy_socket"] and cfg["haproxy_weights_map"]:
            return HaproxyRuntime(cfg["haproxy_socket"], cfg["haproxy_weights_map"])
        return self.box.traffic() if self.box is not None else None

    def driver(self, settings: Any) -> Any:
        from .rollout import CommandDriver

        kind = self.canary_cfg["traffic_driver"]
        if kind == "command":
            return CommandDriver(self.canary_cfg["weight_command"], settings.command_timeout_s)
        if kind in ("haproxy", ""):
            return self.haproxy()
        raise ValueError(f"canary.traffic_driver {kind!r}: use haproxy, command or leave empty")

    def context(self, prom: Any) -> Any:
        """The StageContext, built once (settings, triggers, driver, baseline.json)."""
        if self._ctx is None:
            from .rollout import StageContext, catalog_for, find_baseline

            settings = self.settings()
            sandbox_catalog = None
            if self.box is not None:
                from ..sandbox.launcher import sandbox_triggers

                sandbox_catalog = sandbox_triggers()
            self._ctx = StageContext(
                prom=prom,
                settings=settings,
                triggers=catalog_for(self.canary_cfg["triggers"], sandbox_catalog=sandbox_catalog),
                haproxy=self.haproxy(),
                driver=self.driver(settings) if self.rollout else None,
                share_query=self.canary_cfg["share_query"],
                baseline_doc=find_baseline(
                    self.canary_cfg["baseline_json"],
                    self.evidence_dir,
                    self.config.release["version"] or "",
                ),
            )
        return self._ctx

    def boost_sandbox_load(self) -> None:
        """On the sandbox, enough requests per track in a seconds-long window: the load
        generator's rate override (restored by ``restore``)."""
        rate = float(self.canary_cfg["sandbox_load_rate"])
        if self.box is None or self._rate_file is not None or rate <= 0:
            return
        self._rate_file = Path(self.box.state_dir) / "loadgen.rate"
        with contextlib.suppress(OSError):
            self._rate_before = self._rate_file.read_text()
        self._rate_file.write_text(f"{rate}\n")
        time.sleep(1.0)  # the generator re-reads it every 0.5 s

    def restore(self) -> None:
        if self._rate_file is None:
            return
        if self._rate_before is None:
            self._rate_file.unlink(missing_ok=True)
        else:
            self._rate_file.write_text(self._rate_before)
        self._rate_file = None

    def rollback_wanted(self) -> bool:
        return self.rollback or bool(self.canary_cfg["rollback_command"])
