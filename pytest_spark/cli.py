"""The ``pytest-spark`` command: verify bundles, run the sandbox, print the catalog."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pytest-spark", description="Spark release GO/NO-GO tooling (pytest-spark-deploy)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    v = sub.add_parser("verify", help="re-hash a bundle and recompute its verdict")
    v.add_argument("bundle", type=Path, help="bundle folder or .tar.gz")
    v.add_argument("--json", action="store_true", help="machine-readable result")
    v.set_defaults(func=cmd_verify)
    c = sub.add_parser("catalog", help="print the check catalog as a markdown table")
    c.set_defaults(func=cmd_catalog)
    r = sub.add_parser("config-reference", help="print every spark.toml setting")
    r.set_defaults(func=cmd_config_reference)
    try:
        from .sandbox.cli import add_sandbox_parser
    except ImportError:  # sandbox extras not installed
        pass
    else:
        add_sandbox_parser(sub)
    return parser


def cmd_verify(args: argparse.Namespace) -> int:
    from .bundle import verify

    try:
        result = verify(args.bundle)
    except (ValueError, OSError) as exc:  # not a bundle at all (missing, unreadable)
        print(f"pytest-spark verify: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"ok": result.ok, "verdict": result.verdict, "problems": result.problems}))
    elif result.ok:
        print(f"OK: {args.bundle} is intact; verdict {result.verdict} recomputed and confirmed")
    else:
        print(f"TAMPERED: {args.bundle} does not verify ({len(result.problems)} problem(s)):")
        for problem in result.problems:
            print(f"  - {problem}")
    return 0 if result.ok else 1


def cmd_catalog(args: argparse.Namespace) -> int:
    from .catalog import markdown_table

    print(markdown_table())
    return 0


def cmd_config_reference(args: argparse.Namespace) -> int:
    from .config import reference_markdown

    print(reference_markdown())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
