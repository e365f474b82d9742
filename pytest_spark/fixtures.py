"""Fixtures every check can use: the run's config and the evidence recorder."""

from __future__ import annotations

import pytest

from . import session as run
from .config import SparkConfig
from .evidence import Recorder


@pytest.fixture(scope="session")
def spark_config(request: pytest.FixtureRequest) -> SparkConfig:
    """The validated settings of this run (spark.toml + env + CLI)."""
    from .plugin import STATE

    return request.config.stash[STATE].config


@pytest.fixture
def evidence(request: pytest.FixtureRequest, spark_config: SparkConfig) -> Recorder:
    """Record observations/artifacts for the check this test is bound to (spark_check)."""
    check = run.check_of(request.node)
    if check is None:
        raise pytest.UsageError(
            f"{request.node.nodeid}: the evidence fixture needs @pytest.mark.spark_check('ID')"
        )
    recorder = Recorder(check=check, redactor=spark_config.redactor)
    request.node.stash[run.RECORDER_KEY] = recorder
    return recorder


@pytest.fixture(scope="session")
def spark_sandbox(request: pytest.FixtureRequest):
    """The running reference stack (with --spark-sandbox): inject/revert faults by name.

    ``with spark_sandbox.inject("csp-unsafe-inline"): ...`` always reverts.
    """
    from .plugin import SANDBOX

    box = request.config.stash.get(SANDBOX, None)
    if box is None:
        pytest.skip("needs --spark-sandbox")
    return box
