"""The ``pytest-spark`` command: verify bundles, run the sandbox, print the catalog."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


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
    add_triggers_parser(sub)
    o = sub.add_parser("oneliner", help="the release one-liner from a canary bundle's stages")
    o.add_argument("bundle", type=Path, help="bundle folder or .tar.gz")
    o.add_argument("--lang", choices=("en", "tr"), default="en")
    o.set_defaults(func=cmd_oneliner)
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


def cmd_oneliner(args: argparse.Namespace) -> int:
    from .canary.oneliner import from_bundle, summarize

    try:
        release, stages, blast = from_bundle(args.bundle)
    except (ValueError, OSError) as exc:
        print(f"pytest-spark oneliner: {exc}", file=sys.stderr)
        return 2
    if not stages and blast is None:
        print(f"pytest-spark oneliner: {args.bundle} has no canary stage evidence", file=sys.stderr)
        return 2
    print(summarize(release, stages, lang=args.lang, blast=blast))
    return 0


def add_triggers_parser(sub: Any) -> None:
    t = sub.add_parser(
        "triggers",
        help="the 16 rollback triggers: table, JSON, Prometheus rules or Grafana dashboard",
    )
    out = t.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="the catalog as JSON")
    out.add_argument(
        "--prometheus-rules",
        action="store_true",
        help="a rules file (recording + alerting) for Prometheus; check it with promtool",
    )
    out.add_argument(
        "--grafana-dashboard", action="store_true", help="a Grafana dashboard JSON model"
    )
    t.add_argument("--job", default="spark-api", help="Prometheus job label of the API")
    t.add_argument("--window", default="1m", help="rate() window of the recording rules")
    t.add_argument(
        "--for", dest="for_", default=None, metavar="DURATION",
        help="replace every trigger's `for` (compressed windows, e.g. on a sandbox)",
    )  # fmt: skip
    t.add_argument(
        "--datasource", default="prometheus", help="Grafana datasource uid of Prometheus"
    )
    t.set_defaults(func=cmd_triggers)


def cmd_triggers(args: argparse.Namespace) -> int:
    from .canary import rules, triggers

    try:
        for_ = args.for_
        if for_ is not None:
            triggers.duration_s(for_)
        triggers.duration_s(args.window)
        catalog = triggers.configured(for_=for_)
    except ValueError as exc:
        print(f"pytest-spark triggers: {exc}", file=sys.stderr)
        return 2
    if args.prometheus_rules:
        print(rules.to_yaml(rules.rules_file(catalog, job=args.job, window=args.window)), end="")
    elif args.grafana_dashboard:
        print(json.dumps(rules.dashboard(catalog, datasource=args.datasource), indent=2))
    elif args.json:
        rows = [
            {
                "id": t.id, "alert": t.alert, "kind": str(t.kind), "watches": t.watches,
                "expr": t.expr, "comparator": t.comparator, "threshold": t.threshold,
                "for": t.for_, "severity": t.severity, "unit": t.unit,
            }
            for t in catalog
        ]  # fmt: skip
        print(json.dumps(rows, indent=2))
    else:
        print(triggers.markdown_table(catalog))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `pytest-spark triggers | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
