"""`pytest-spark sandbox up|down|status|fault|faults`: the lead's cli.py dispatches here.

Wire-up: ``add_sandbox_parser(subparsers)`` adds the ``sandbox`` command and
sets ``args.func`` to one of the ``cmd_*`` functions, each returning an exit
code. Secrets never reach the terminal: DSN passwords are masked and the
real ones stay in the state directory's state.json (0600).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .launcher import DEFAULT_STATE_DIR, STATE_FILE, Sandbox, SandboxError, public_endpoints

Handler = Callable[[argparse.Namespace], int]


def add_sandbox_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `sandbox` and its sub-commands on the main parser's subparsers."""
    sandbox = subparsers.add_parser("sandbox", help="the reference Spark stack on loopback")
    sandbox.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="state directory of the stack (default: .sandbox)",
    )
    sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    # --state-dir is also accepted after the sub-command (`sandbox down --state-dir X`)
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    up = sub.add_parser("up", parents=[where], help="start the stack and print its endpoints")
    up.add_argument("--version", default="1.4.0", help="release version the API reports")
    up.add_argument("--no-load", action="store_true", help="no background traffic")
    up.add_argument("--timeout", type=float, default=60.0, help="start-up deadline (s)")
    up.add_argument(
        "--detach",
        action="store_true",
        help="return once up and leave it running (stop with `sandbox down`)",
    )
    up.add_argument("--json", action="store_true", help="print endpoints as JSON")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", parents=[where], help="stop the stack and free its ports")
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", parents=[where], help="show components and active faults")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    fault = sub.add_parser("fault", parents=[where], help="inject (or --revert) a named fault")
    fault.add_argument("name", help="fault name (see `sandbox faults`)")
    fault.add_argument("--revert", action="store_true", help="revert instead of inject")
    fault.add_argument("--value", help="optional value for app-level faults")
    fault.set_defaults(func=cmd_fault)

    faults = sub.add_parser(
        "faults", parents=[where], help="list the faults and the checks they target"
    )
    faults.set_defaults(func=cmd_faults)

    weight = sub.add_parser(
        "weight", parents=[where], help="set the canary's share of public traffic (0..100 %%)"
    )
    weight.add_argument("percent", type=_percent, help="canary share, 0..100")
    weight.set_defaults(func=cmd_weight)
    return sandbox


def _percent(text: str) -> int:
    try:
        value = int(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole percentage: {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"canary weight must be 0..100, got {value}")
    return value


def cmd_weight(args: argparse.Namespace) -> int:
    """Set the canary weight through HAProxy's runtime API and show the split."""
    from ..canary.traffic import TrafficError

    try:
        driver = Sandbox.attach(args.state_dir).traffic()
        driver.set_weight(args.percent)
    except (SandboxError, TrafficError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"canary weight {args.percent} %: stable {100 - args.percent} %, canary {args.percent} %")
    return 0


def _cmd(args: argparse.Namespace) -> str:
    """The sandbox command line to repeat, with --state-dir when it is not the default."""
    if Path(args.state_dir) == Path(DEFAULT_STATE_DIR):
        return "pytest-spark sandbox"
    return f"pytest-spark sandbox --state-dir {args.state_dir}"


def _print_endpoints(box: Sandbox, as_json: bool) -> None:
    shown = public_endpoints(box.endpoints)
    if as_json:
        print(json.dumps(shown, indent=2))
        return
    width = max(len(k) for k in shown)
    for key, value in shown.items():
        text = ", ".join(value) if isinstance(value, list) else value
        print(f"  {key:<{width}}  {text}")
    print(f"  (passwords: {box.state_dir / 'state.json'}, mode 0600)")


def cmd_up(args: argparse.Namespace) -> int:
    """Start the stack; in the foreground (default) stop it again on Ctrl-C / SIGTERM."""
    box = Sandbox(args.state_dir, version=args.version, load=not args.no_load)
    stop = threading.Event()
    if not args.detach:
        _on_signals(lambda *_: stop.set())
    try:
        box.up(timeout=args.timeout, detach=args.detach)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = box.timings.get("total", 0.0)
    print(f"sandbox up in {total:.1f} s ({box.state_dir})")
    _print_endpoints(box, args.json)
    if args.detach:
        print(f"running detached; stop it with `{_cmd(args)} down`")
        return 0
    print("press Ctrl-C to stop")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        print("stopping sandbox ...", file=sys.stderr)
        box.down()
    return 0


def _on_signals(handler: Callable[..., None]) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def cmd_down(args: argparse.Namespace) -> int:
    """Stop whatever runs in the state directory (no-op when nothing does)."""
    box = Sandbox(args.state_dir)
    if not (box.state_dir / STATE_FILE).is_file():
        print(f"no sandbox in {box.state_dir} (nothing to stop)")
        return 0
    try:
        box.down()
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"sandbox in {box.state_dir} is down")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 0 when the stack runs with every component alive, 3 otherwise."""
    info = Sandbox(args.state_dir).status()
    healthy = info["running"] and all(c["alive"] for c in info["components"].values())
    if args.json:
        print(json.dumps(info, indent=2))
        return 0 if healthy else 3
    if not info["running"]:
        print(f"no sandbox running in {info['state_dir']}")
        return 3
    print(f"sandbox in {info['state_dir']} (release {info['release']['version']})")
    for name, comp in sorted(info["components"].items()):
        print(f"  {name:<13} pid {comp['pid']:<8} {'up' if comp['alive'] else 'DOWN'}")
    print(f"  faults: {', '.join(info['faults']) or 'none'}")
    weight = _weight_line(args.state_dir)
    if weight:
        print(f"  {weight}")
    return 0 if healthy else 3


def _weight_line(state_dir: Path) -> str:
    """'canary weight N % (public URL)' or why it cannot be read."""
    from ..canary.traffic import TrafficError

    try:
        box = Sandbox.attach(state_dir)
        return f"canary weight: {box.traffic().weight()} % of {box.endpoints.public_url}"
    except (SandboxError, TrafficError) as exc:
        return f"canary weight: unknown ({exc})"


def cmd_fault(args: argparse.Namespace) -> int:
    """Inject or revert a fault on a running stack (state survives this process)."""
    from ..options import did_you_mean
    from .faults import FAULTS

    if args.name not in FAULTS:  # a typo is found before looking for a running stack
        print(
            f"error: unknown fault {args.name!r}{did_you_mean(args.name, FAULTS)}; "
            f"list them with `{_cmd(args)} faults`",
            file=sys.stderr,
        )
        return 2
    try:
        box = Sandbox.attach(args.state_dir)
        if args.revert:
            if args.name not in box.active_faults():
                print(f"fault {args.name} is not active (nothing to revert)")
                return 0
            box.revert_fault(args.name)
            print(f"reverted {args.name}")
        else:
            params = {"value": args.value} if args.value is not None else {}
            box.apply_fault(args.name, **params)
            print(f"injected {args.name}; revert: `{_cmd(args)} fault {args.name} --revert`")
    except (SandboxError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_faults(args: argparse.Namespace) -> int:
    """List fault names, their target checks and what they do."""
    from .faults import FAULTS

    width = max(len(n) for n in FAULTS)
    for name, fault in sorted(FAULTS.items()):
        print(f"  {name:<{width}}  {','.join(fault.targets):<12} {fault.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (python -m pytest_spark.sandbox.cli) until the main CLI wires it."""
    parser = argparse.ArgumentParser(prog="pytest-spark")
    add_sandbox_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
