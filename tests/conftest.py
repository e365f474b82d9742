"""The project's own tests. One reference stack serves every test that needs it."""

from __future__ import annotations

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
