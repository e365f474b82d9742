"""Point a run at a sandbox: the config layer that --spark-sandbox puts over spark.toml."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = Path(".sandbox")
#: A seeded sandbox account the load generator never trades: probe orders go there.
SANDBOX_TEST_ACCOUNT = "ACC-4"


def config_layer(endpoints: Any) -> dict[str, dict[str, Any]]:
    """Targets and release expectations of a running stack (CLI-level overrides)."""
    from .app.flags import FLAG_DEFINITIONS
    from .migrate import latest_version

    version = endpoints.release_version
    return {
        "targets": {
            "api_urls": list(endpoints.api_urls),
            "db_dsn": endpoints.db_dsn,
            "pgbouncer_dsn": endpoints.pgbouncer_dsn,
            "pgbouncer_admin_dsn": endpoints.pgbouncer_admin_dsn,
            "prometheus_url": endpoints.prometheus_url,
            "alertmanager_url": endpoints.alertmanager_url,
            "ntp_servers": [endpoints.ntp_server],
        },
        "release": {
            "version": version,
            "git_sha": endpoints.git_sha,
            "migration": latest_version(endpoints.migrations_dir),
            "sbom": endpoints.sbom_path,
            "pending_migrations_dir": endpoints.pending_migrations_dir,
            "new_flags": sorted(
                n
                for n, d in FLAG_DEFINITIONS.items()
                if d.kind == "release" and d.introduced_in == version
            ),
            "kill_switches": sorted(
                n for n, d in FLAG_DEFINITIONS.items() if d.kind == "kill-switch"
            ),
        },
        "schema": {"test_account": SANDBOX_TEST_ACCOUNT},
        "contracts": contracts_layer(endpoints),
    }


def contracts_layer(endpoints: Any) -> dict[str, Any]:
    """Pact provider states through the sandbox API's own endpoint (sandbox mode only)."""
    from .launcher import Sandbox, SandboxError

    try:
        token = Sandbox.attach(Path(endpoints.state_dir)).secret("control_tokens")[0]
    except (SandboxError, KeyError, IndexError, OSError):
        return {}  # no token: states cannot be set, and the contract checks say so (ERROR)
    return {
        "provider_states_url": f"{endpoints.api_urls[0]}/__sandbox/provider-states",
        "provider_states_token": token,
    }


def start_or_attach(state_dir: Path) -> tuple[Any, bool]:
    """A running stack in ``state_dir`` is reused (warm runs); else one is started.

    Returns (sandbox, started_here): only a stack started here is stopped at the end.
    """
    from .components import ComponentError
    from .launcher import Sandbox, SandboxError

    try:
        box = Sandbox.attach(state_dir)
        box.endpoints  # noqa: B018 - raises if the state is unusable
        running = box.status().get("running")
    except SandboxError:
        running = False
    if running:
        down = box.down_components()
        if down:  # a fault may have stopped one on purpose: say so, do not refuse
            print(
                f"pytest-spark: warning: sandbox in {state_dir} has stopped components: "
                f"{', '.join(down)}",
                file=sys.stderr,
            )
        if not box.data_ready:  # another process started it moments ago
            try:
                box.wait_for_data(timeout=60)
            except ComponentError as exc:
                raise SandboxError(f"sandbox in {state_dir} is running but {exc}") from exc
        return box, False
    print(f"pytest-spark: starting the reference stack in {state_dir} ...", file=sys.stderr)
    box = Sandbox(state_dir)
    with _sigterm_interrupts():
        try:
            box.up()  # interrupted: it stops what it started, then re-raises
            try:  # checks judge metrics: a stack without scraped data would look broken
                box.wait_for_data(timeout=60)
            except ComponentError as exc:
                box.down()
                raise SandboxError(f"sandbox started but {exc}") from exc
            except BaseException:
                box.down()
                raise
        except KeyboardInterrupt as exc:
            why = str(exc) or "interrupted"
            print(
                f"pytest-spark: {why}: stopped the half-started sandbox in {state_dir}; "
                "no check ran, no verdict (incomplete run)",
                file=sys.stderr,
            )
            raise
    return box, True


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM while the stack starts acts like Ctrl-C: the half-started stack is stopped
    and the run ends as interrupted, instead of dying with 143 and leaving processes.

    Only where SIGTERM still has its default action (the run installs its own
    SIGTERM-as-interrupt handler later), and restored afterwards.
    """
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"terminated by signal {signum} while the sandbox was starting")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
