"""How long each hang case of issue 8 section 1 really takes: every one must end within
its deadline + 1 s (and an interrupt within 2 s). Prints one line per case and a total.

Cases: HTTP (client, Prometheus, Alertmanager) against trickled headers/body, a
silent server, a kernel-backlog blackhole, endless / oversized / gzip-bomb bodies;
PostgreSQL (a real throwaway server behind a proxy that goes silent after N
ReadyForQuery, with and without server-side timeouts, and silent in start-up);
NTP (silent, garbage); SIGINT/SIGTERM to a process stuck on a silent database.

    .venv/bin/python benchmarks/hang_cases.py [--deadline 2.0]
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "sandbox")]

import _pg  # noqa: E402
from hang_servers import FreezingProxy, http_server, wait_for  # noqa: E402

from pytest_spark.probes import ProbeError, db, ntp  # noqa: E402
from pytest_spark.probes.alertmanager import Alertmanager  # noqa: E402
from pytest_spark.probes.http import MIB, get, make_client  # noqa: E402
from pytest_spark.probes.prometheus import Prometheus  # noqa: E402

HTTP_KINDS = ("trickle-body", "trickle-headers", "silent", "endless-body", "oversized", "gzip-bomb")


@contextlib.contextmanager
def blackhole() -> Iterator[str]:
    with socket.create_server(("127.0.0.1", 0), backlog=64) as sock:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _default_sigint() -> None:
    """A job started in the background ignores SIGINT, and so would the child: undo that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def serve(kind: str) -> contextlib.AbstractContextManager[str]:
    return blackhole() if kind == "blackhole" else http_server(kind)


def timed(call: Callable[[], object]) -> tuple[float, str]:
    started = time.monotonic()
    try:
        call()
        said = "no error!"
    except ProbeError as exc:
        said = f"{type(exc).__name__}: {exc}"
    return time.monotonic() - started, said


def http_cases(deadline: float) -> Iterator[tuple[str, float, str]]:
    for kind in (*HTTP_KINDS, "blackhole"):
        for client in ("http", "prometheus", "alertmanager"):
            with serve(kind) as base:
                if client == "http":
                    with make_client(timeout=deadline, max_bytes=MIB) as c:
                        took, said = timed(lambda c=c, b=base: get(c, f"{b}/version"))
                elif client == "prometheus":
                    with Prometheus(base, timeout=deadline, max_bytes=MIB) as p:
                        took, said = timed(lambda p=p: p.query("time()"))
                else:
                    with Alertmanager(base, timeout=deadline, max_bytes=MIB) as a:
                        took, said = timed(a.ready)
            yield f"{client} {kind}", took, said


def db_cases(deadline: float, server: _pg.PgServer) -> Iterator[tuple[str, float, str]]:
    url = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
    for freeze_after, options in ((0, True), (1, True), (2, True), (3, True), (1, False)):
        with FreezingProxy(("127.0.0.1", server.port), freeze_after=freeze_after) as proxy:

            def session(dsn: str = proxy.dsn(url), options: bool = options) -> None:
                with db.connect(dsn, timeout=deadline, options=options) as conn:
                    for n in range(3):
                        db.rows(conn, f"SELECT {n}")

            took, said = timed(session)
        label = f"postgres silent after ReadyForQuery #{freeze_after}"
        yield label + ("" if options else " (no server timeouts)"), took, said


def ntp_cases(deadline: float) -> Iterator[tuple[str, float, str]]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        server = f"127.0.0.1:{silent.getsockname()[1]}"
        yield ("ntp silent", *timed(lambda: ntp.query(server, timeout=deadline)))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as garbage:
        garbage.bind(("127.0.0.1", 0))
        server = f"127.0.0.1:{garbage.getsockname()[1]}"

        def answer() -> None:
            with contextlib.suppress(OSError):
                _, addr = garbage.recvfrom(256)
                garbage.sendto(b"\x1c" * 12, addr)

        threading.Thread(target=answer, daemon=True).start()
        yield ("ntp garbage", *timed(lambda: ntp.query(server, timeout=deadline)))


STUCK = textwrap.dedent(
    """
    from pytest_spark import session
    from pytest_spark.probes import db
    session.interrupt_on_sigterm()
    with db.connect({dsn!r}, timeout=60) as conn:
        db.rows(conn, "SELECT 1")
    """
)


def signal_cases(server: _pg.PgServer) -> Iterator[tuple[str, float, str]]:
    url = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
    for sig in (signal.SIGINT, signal.SIGTERM):
        with FreezingProxy(("127.0.0.1", server.port), freeze_after=2) as proxy:
            proc = subprocess.Popen(
                [sys.executable, "-c", STUCK.format(dsn=proxy.dsn(url))],
                preexec_fn=_default_sigint,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            wait_for(proxy.frozen)
            started = time.monotonic()
            proc.send_signal(sig)
            try:
                _, err = proc.communicate(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
            took = time.monotonic() - started
            last = (err.strip().splitlines() or ["?"])[-1]
        yield f"{sig.name} to a process stuck in libpq", took, f"exit {proc.returncode}: {last}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", type=float, default=2.0)
    args = parser.parse_args()
    rows: list[tuple[str, float, float, str]] = []
    for name, took, said in (*http_cases(args.deadline), *ntp_cases(args.deadline)):
        rows.append((name, took, args.deadline + 1, said))
    server = _pg.start_server()
    try:
        for name, took, said in db_cases(args.deadline, server):
            rows.append((name, took, args.deadline + 1, said))
        for name, took, said in signal_cases(server):
            rows.append((name, took, 2.0, said))
    finally:
        _pg.stop_server(server)
    ok = 0
    for name, took, limit, said in rows:
        within = took <= limit
        ok += within
        print(
            f"{'ok  ' if within else 'SLOW'} {took:6.2f} s (limit {limit:.1f}) {name}: {said[:110]}"
        )
    limit = f"deadline {args.deadline} s + 1 s; interrupts 2 s"
    print(f"{ok} of {len(rows)} hang cases ended within their limit ({limit})")


if __name__ == "__main__":
    main()
