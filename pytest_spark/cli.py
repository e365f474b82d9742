"""The ``pytest-spark`` command: verify bundles, run the sandbox, print the catalog."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .suite import code_problems, parse_pin


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pytest-spark", description="Spark release GO/NO-GO tooling (pytest-spark-deploy)"
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"pytest-spark-deploy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    i = sub.add_parser(
        "init", help="write a commented spark.toml with every setting and its default"
    )
    i.add_argument(
        "path", type=Path, nargs="?", default=Path("spark.toml"), help="default: ./spark.toml"
    )
    i.set_defaults(func=cmd_init)
    p = sub.add_parser(
        "prune",
        help="keep the newest N evidence bundles of each release, remove older ones",
        description="Per release folder under the evidence dir, keep the newest N runs (folder, "
        ".tar.gz and .sha256 sidecar, named by run id) and remove the older ones. Nothing "
        "else is touched.",
    )
    p.add_argument("--keep", type=int, required=True, metavar="N", help="runs kept per release")
    p.add_argument(
        "--evidence-dir", type=Path, default=Path("reports"), metavar="DIR",
        help="where the bundles are (default: reports/)",
    )  # fmt: skip
    p.add_argument(
        "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )
    p.set_defaults(func=cmd_prune)
    v = sub.add_parser(
        "verify", help="re-hash a bundle, recompute its verdict, check its signature"
    )
    v.add_argument("bundle", type=Path, help="bundle folder or .tar.gz")
    v.add_argument(
        "--key",
        type=Path,
        metavar="PUB",
        help="trusted Ed25519 public key (PEM): the bundle must be signed by it",
    )
    v.add_argument(
        "--require-signature",
        action="store_true",
        help="fail unless the attestation is signed by --key (an unsigned bundle fails)",
    )
    v.add_argument("--release", help="fail unless the bundle is for this release")
    v.add_argument("--max-file-mib", type=float, default=64, help="per-file cap (default 64)")
    v.add_argument("--max-total-mib", type=float, default=512, help="total cap (default 512)")
    v.add_argument("--deadline-s", type=float, default=120, help="total deadline (default 120)")
    v.add_argument(
        "--require-go",
        action="store_true",
        help="the deploy gate: exit 1 unless the bundle is intact AND its verdict is GO over a "
        "full (not partial) scope AND it is not evidence from the reference stack (sandbox); "
        "who produced it is proven only with --key (and --require-signature)",
    )
    v.add_argument(
        "--require",
        default="",
        metavar="SUITES_OR_IDS",
        help="with --require-go: the checks that must have passed, suites and/or ids "
        "(default: the whole catalog; e.g. blindspots,preflight,redteam)",
    )
    v.add_argument(
        "--max-age",
        default="24h",
        help="with --require-go: evidence older than this is no deploy GO (default 24h)",
    )
    add_digest_pins(v)
    v.add_argument("--json", action="store_true", help="machine-readable result")
    v.set_defaults(func=cmd_verify)
    k = sub.add_parser("keygen", help="make an Ed25519 key pair for signing bundles")
    k.add_argument("private", type=Path, help="private key file to create (PEM, mode 0600)")
    k.add_argument("--public", type=Path, help="public key file (default: PRIVATE.pub)")
    k.set_defaults(func=cmd_keygen)
    add_combine_parser(sub)
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


def cmd_init(args: argparse.Namespace) -> int:
    from .config import sample_toml

    try:
        with args.path.open("x", encoding="utf-8") as fh:  # "x": never overwrite
            fh.write(sample_toml())
    except FileExistsError:
        print(f"pytest-spark init: {args.path} exists; refusing to overwrite it", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"pytest-spark init: cannot write {args.path}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"wrote {args.path}: every setting with its default; fill in [targets], then run")
    print("  pytest -m preflight --release v1.4.0" + _config_flag(args.path))
    return 0


def _config_flag(path: Path) -> str:
    return "" if path == Path("spark.toml") else f" --spark-config={path}"


def cmd_prune(args: argparse.Namespace) -> int:
    from . import releases

    try:
        todo = releases.plan(args.evidence_dir, args.keep)
    except (ValueError, OSError) as exc:
        print(f"pytest-spark prune: {exc}", file=sys.stderr)
        return 2
    verb = "would remove" if args.dry_run else "removed"
    if not args.dry_run:
        try:
            releases.apply(todo)
        except OSError as exc:
            print(f"pytest-spark prune: {exc}", file=sys.stderr)
            return 2
    for path in todo.remove:
        print(f"{verb} {path}")
    kept = f"kept {len(todo.keep)} (newest {args.keep} per release)"
    print(f"{verb} {len(todo.remove)} path(s); {kept}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .bundle import MIB, Limits, read_verified
    from .releases import canonical
    from .signing import load_public_key

    if args.require_signature and args.key is None:
        print("pytest-spark verify: --require-signature needs --key PUB", file=sys.stderr)
        return 2
    if args.release:
        try:
            args.release = canonical(args.release)
        except ValueError as exc:
            print(f"pytest-spark verify: {exc}", file=sys.stderr)
            return 2
    try:
        pins = digest_pins(args)
    except ValueError as exc:
        print(f"pytest-spark verify: {exc}", file=sys.stderr)
        return 2
    for name in ("max_file_mib", "max_total_mib", "deadline_s"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            print(f"pytest-spark verify: --{name.replace('_', '-')} must be > 0", file=sys.stderr)
            return 2
    limits = Limits(
        member_bytes=int(args.max_file_mib * MIB),
        total_bytes=int(args.max_total_mib * MIB),
        deadline_s=args.deadline_s,
    )
    try:
        key = load_public_key(args.key) if args.key is not None else None
        result, docs = read_verified(
            args.bundle,
            key=key,
            require_signature=args.require_signature,
            release=args.release,
            limits=limits,
        )
    except (ValueError, OSError) as exc:  # not a bundle or key at all (missing, unreadable)
        print(f"pytest-spark verify: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "verdict": result.verdict,
                    "release": result.release,
                    "run_id": result.run_id,
                    "signature": result.signature,
                    "keyids": result.keyids,
                    "authenticated": result.authenticated,
                    "problems": result.problems,
                }
            )
        )
    elif result.ok:
        print(
            f"OK: {args.bundle} is intact; verdict {result.verdict} recomputed and confirmed "
            f"(release {result.release}, run {result.run_id}); {result.trust}"
        )
    else:
        # intact but unsigned / signed by another key is no tampering: say which it is
        only_key = all("given key" in p for p in result.problems)
        head = "NOT AUTHENTIC" if only_key else "TAMPERED"
        print(f"{head}: {args.bundle} does not verify ({len(result.problems)} problem(s)):")
        for problem in result.problems:
            print(f"  - {problem}")
    if not result.ok:
        return 1
    run = json.loads(docs["manifest.json"]).get("run", {})
    other = code_problems(run, pins, require_suite=False)  # what --require-go adds: below
    for why in other:
        print(f"OTHER CODE: {why}")
    if other:
        return 1
    if args.require_go:
        import datetime as dt

        from . import combine

        try:
            required = combine.required_ids(args.require)
            max_age = combine.parse_max_age(args.max_age)
        except (combine.CombineError, ValueError) as exc:
            print(f"pytest-spark verify: {exc}", file=sys.stderr)
            return 2
        refusals = gate_refusals(docs, required, max_age, dt.datetime.now(dt.UTC))
        for why in refusals:
            print(f"NOT A DEPLOY GO: {why}")
        unpinned = [f"--{part}-digest" for part, pin in pins.items() if not pin]
        if unpinned and not refusals:  # like an unsigned bundle: say what was not checked
            print(f"note: no {' / '.join(unpinned)}: the run's code was not compared")
        return 1 if refusals else 0
    return 0


def add_digest_pins(parser: argparse.ArgumentParser) -> None:
    for part in ("suite", "plugin"):
        parser.add_argument(
            f"--{part}-digest",
            metavar="SHA256",
            help=f"fail unless the run's {part} digest (manifest run.code.{part}) is this one: "
            "the code a release process reviewed",
        )


def digest_pins(args: argparse.Namespace) -> dict[str, str | None]:
    """--suite-digest / --plugin-digest, normalised; ValueError on a malformed or empty one."""
    pins: dict[str, str | None] = {}
    for part in ("suite", "plugin"):
        given = getattr(args, f"{part}_digest")
        pins[part] = None if given is None else parse_pin(given, f"--{part}-digest")
    return pins


def gate_refusals(docs: dict[str, bytes], required: list[str], max_age: Any, now: Any) -> list[str]:
    """Why a verified bundle is no deploy GO: not GO, a partial scope, a required check
    it did not pass (a preflight-only run is no release GO unless only preflight is
    required), stale or sandbox evidence."""
    from .combine import CombineError, parse_utc

    verdict = json.loads(docs["verdict.json"])
    run = json.loads(docs["manifest.json"]).get("run", {})
    out = []
    if verdict.get("verdict") != "GO":
        out.append(f"the verdict is {verdict.get('verdict')}")
    partial = (verdict.get("scope") or {}).get("partial")
    if partial:
        out.append(f"the scope is partial ({partial})")
    outcomes = verdict.get("outcomes") or {}
    missing = [c for c in required if outcomes.get(c) not in ("passed", "waived")]
    if missing:
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        out.append(
            f"{len(missing)} of {len(required)} required checks did not pass in this run "
            f"({shown}); combine the runs of the release or narrow --require"
        )
    try:
        end = parse_utc(run.get("end") or "")
        if now - end > max_age:
            out.append(f"the evidence is older than {max_age} (run ended {run.get('end')})")
    except (CombineError, ValueError, TypeError):
        out.append("the bundle does not say when its run ended")
    if run.get("sandbox"):
        out.append("the evidence comes from the reference stack (--spark-sandbox)")
    return out + code_problems(run, {}, require_suite=True)


def cmd_keygen(args: argparse.Namespace) -> int:
    from .signing import SigningError, generate

    public = args.public or args.private.with_name(args.private.name + ".pub")
    try:
        kid = generate(args.private, public)
    except (SigningError, OSError) as exc:
        print(f"pytest-spark keygen: {exc}", file=sys.stderr)
        return 2
    print(f"private key {args.private} (keep secret; evidence.signing_key / --spark-signing-key)")
    print(f"public key  {public} (give to verifiers: pytest-spark verify BUNDLE --key {public})")
    print(f"keyid       {kid}")
    return 0


def add_combine_parser(sub: Any) -> None:
    m = sub.add_parser(
        "combine",
        help="one release verdict from several verified bundles of the same release",
        description="Verify each bundle, keep the newest fresh result per check, and decide "
        "once: GO only if every required check passed (or was validly waived). "
        "Exit 0 on GO, 1 on NO-GO, 2 when the bundles cannot be combined.",
    )
    m.add_argument("bundles", type=Path, nargs="+", metavar="BUNDLE", help="folder or .tar.gz")
    m.add_argument(
        "--max-age",
        default="24h",
        help="a result older than this is stale and does not count (default 24h; e.g. 90m, 7d)",
    )
    m.add_argument(
        "--require",
        default="",
        metavar="SUITES_OR_IDS",
        help="required checks: suites and/or ids, comma separated (default: the whole catalog)",
    )
    m.add_argument("--out", type=Path, default=None, help="also write the verdict as JSON here")
    m.add_argument(
        "--allow-sandbox",
        action="store_true",
        help="accept bundles from --spark-sandbox runs (refused by default: no real release)",
    )
    m.add_argument(
        "--now", default=None, help="judge freshness and waivers as of this UTC time (ISO 8601)"
    )
    m.add_argument(
        "--key",
        type=Path,
        metavar="PUB",
        help="trusted Ed25519 public key (PEM): every signed bundle must be signed by it",
    )
    m.add_argument(
        "--require-signature",
        action="store_true",
        help="refuse any bundle not signed by --key (an unsigned bundle is integrity only)",
    )
    add_digest_pins(m)
    m.set_defaults(func=cmd_combine)


def _parse_now(text: str) -> Any:
    """``--now``: an ISO 8601 time (datetime), or a one-line error naming the option."""
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        example = "e.g. 2026-11-30T12:00Z"
        raise ValueError(f"--now {text!r}: not an ISO 8601 time, {example}") from None


def cmd_combine(args: argparse.Namespace) -> int:
    import datetime as dt

    from . import combine
    from .signing import load_public_key

    if args.require_signature and args.key is None:
        print("pytest-spark combine: --require-signature needs --key PUB", file=sys.stderr)
        return 2
    try:
        now = _parse_now(args.now) if args.now else dt.datetime.now(dt.UTC)
        if now.utcoffset() is None:
            raise combine.CombineError(f"--now {args.now!r}: give a UTC offset, e.g. Z")
        key = load_public_key(args.key) if args.key is not None else None
        required = combine.required_ids(args.require)
        max_age = combine.parse_max_age(args.max_age)  # bad arguments before any read
        pins = digest_pins(args)
        runs = combine.load_all(
            args.bundles,
            allow_sandbox=args.allow_sandbox,
            key=key,
            require_signature=args.require_signature,
            pins=pins,
        )
        v = combine.combine(
            runs,
            required=required,
            now=now.astimezone(dt.UTC),
            max_age=max_age,
        )
    except (combine.CombineError, ValueError, OSError) as exc:
        print(f"pytest-spark combine: {exc}", file=sys.stderr)
        return 2
    for r in v["reasons"]:
        print(f"  {r['check']:6} {r['outcome']:11} {r['message']}")
    for w in v["warnings"]:
        print(f"  {w['check']:6} {'warning':11} {w['message']}")
    if args.out:
        from .bundle import atomic_write

        try:
            atomic_write(args.out, json.dumps(v, indent=2, sort_keys=True).encode() + b"\n")
        except OSError as exc:
            print(f"pytest-spark combine: cannot write {args.out}: {exc}", file=sys.stderr)
            print(combine.line(v))
            return 2
    if args.now:  # an audit "as of" then, never a decision for now
        print(f"{combine.line(v)} -- as of {args.now} (--now), not a current decision")
        return 0 if v["verdict"] == "GO" else 1
    print(combine.line(v))
    return 0 if v["verdict"] == "GO" else 1


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
