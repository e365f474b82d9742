"""One release verdict from several runs of the same release (EVIDENCE.md, "Scope and
combining runs").

A partial run (``--spark-check``, ``--lf``, one suite) is GO only for what it
covered. ``pytest-spark combine`` reads several verified bundles of one release,
keeps the newest result per check, drops results older than a freshness limit,
and decides once over the required checks, so a release GO means every required
check passed (or was validly waived) recently. Pure logic here; reading and
verifying the bundles is in ``load``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import catalog
from .suite import code_problems
from .verdict import GO, NOT_RUN, RAN, compute
from .waivers import Waiver


class CombineError(Exception):
    """Bundles that cannot be combined (tampered, unreadable, of different releases)."""


@dataclass(frozen=True)
class Run:
    """What combine needs from one verified bundle."""

    path: str
    run_id: str
    release: str
    start: dt.datetime
    records: tuple[Mapping[str, Any], ...]
    waivers: tuple[Waiver, ...]
    exempt: frozenset[str]
    verdict: str
    authenticated: bool = False  # signed by the key combine was given (else integrity only)


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_max_age(text: str) -> dt.timedelta:
    """``90m``, ``24h``, ``7d``: the freshness limit of a result (positive, at most 90 days)."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise CombineError(f"--max-age {text!r}: expected a duration like 30m, 24h or 7d")
    seconds = float(m.group(1)) * _UNIT[m.group(2)]
    if not 0 < seconds <= 90 * 86400:
        raise CombineError(f"--max-age {text!r}: must be above 0 and at most 90d")
    return dt.timedelta(seconds=seconds)


def required_ids(spec: str) -> list[str]:
    """``--require``: suite names and/or check ids, comma separated (default: the catalog)."""
    if not spec.strip():
        return list(catalog.BY_ID)
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part in catalog.SUITES:
            out += [c.id for c in catalog.CHECKS if str(c.suite) == part]
        elif part in catalog.BY_ID:
            out.append(part)
        else:
            raise CombineError(
                f"--require {part!r}: not a suite ({', '.join(catalog.SUITES)}) "
                "or a catalog check id"
            )
    return sorted(set(out), key=list(catalog.BY_ID).index)


def parse_utc(text: str) -> dt.datetime:
    """An ISO 8601 time with a UTC offset, as UTC; ValueError without an offset."""
    value = dt.datetime.fromisoformat(text)
    if value.utcoffset() is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return value.astimezone(dt.UTC)


_BADNESS = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


def newest(runs: Sequence[Run]) -> dict[str, tuple[Mapping[str, Any], Run]]:
    """Per check id, the newest record that ran (passed/failed/error); a skip only when no
    run of that check ran it. Two results at the same instant: the worse one counts (a
    failure is never hidden by a simultaneous pass), then the run that started later."""
    best: dict[str, tuple[tuple[bool, dt.datetime, int, dt.datetime], Mapping[str, Any], Run]]
    best = {}
    for run in runs:
        for rec in run.records:
            bad = _BADNESS.get(rec["outcome"], 9)
            key = (rec["outcome"] in RAN, parse_utc(rec["end"]), bad, run.start)
            cur = best.get(rec["id"])
            if cur is None or key > cur[0]:
                best[rec["id"]] = (key, rec, run)
    return {cid: (rec, run) for cid, (_key, rec, run) in best.items()}


def combine(
    runs: Sequence[Run],
    *,
    required: Iterable[str],
    now: dt.datetime,
    max_age: dt.timedelta,
) -> dict[str, Any]:
    """The release verdict over ``required`` from the newest fresh result of each check."""
    if not runs:
        raise CombineError("no bundle given")
    from .releases import canonical

    def label(release: str) -> str:  # 1.4.0 and v1.4.0 name one release
        try:
            return canonical(release)
        except ValueError:
            return release

    releases = sorted({label(r.release) for r in runs})
    if len(releases) != 1 or not releases[0]:
        raise CombineError(
            "refusing to mix releases: "
            + ", ".join(f"{r.path} is {r.release or '(no release)'}" for r in runs)
        )
    required = list(required)
    chosen = newest(runs)
    stale: dict[str, str] = {}
    records, waivers, exempt = [], [], set()
    for cid, (rec, run) in sorted(chosen.items()):
        end = parse_utc(rec["end"])
        if now - end > max_age:
            stale[cid] = (
                f"stale: newest result ({rec['outcome']}, run {run.run_id}, "
                f"{end.isoformat(timespec='seconds')}) is older than {max_age}"
            )
            continue
        if end - now > dt.timedelta(minutes=5):
            stale[cid] = f"result dated in the future ({end.isoformat()}, run {run.run_id})"
            continue
        records.append(rec)
        waivers += [w for w in run.waivers if w.check == cid]  # judged again as of now
        if cid in run.exempt:
            exempt.add(cid)
    scope = {
        "name": f"release {releases[0]}",
        "in_scope": required,
        "partial": "",
        "selection": {"runs": [r.run_id for r in runs], "max_age_s": max_age.total_seconds()},
    }
    v = compute(
        [r for r in records if r["id"] in set(required)],
        waivers=waivers,
        exempt=exempt,
        day=now.date(),
        scope=scope,
    )
    for reason in v["reasons"]:
        if reason["outcome"] == NOT_RUN and reason["check"] in stale:
            reason["message"] = stale[reason["check"]]
    v.update(
        release=releases[0],
        combined_at=now.isoformat(timespec="seconds"),
        max_age_s=max_age.total_seconds(),
        runs=[
            {
                "path": r.path,
                "run_id": r.run_id,
                "start": r.start.isoformat(),
                "verdict": r.verdict,
                "authenticated": r.authenticated,
            }
            for r in sorted(runs, key=lambda r: r.start)
        ],
        checks={
            cid: {
                "outcome": rec["outcome"],
                "effective": v["outcomes"].get(cid, NOT_RUN),
                "run_id": run.run_id,
                "end": rec["end"],
                "stale": cid in stale,
            }
            for cid, (rec, run) in sorted(chosen.items())
            if cid in set(required)
        },
    )
    return v


def line(v: Mapping[str, Any]) -> str:
    scope = v["scope"]
    done = len(scope["in_scope"]) - len(scope["not_run"])
    head = (
        f"SPARK RELEASE VERDICT: {v['verdict']} for release {v['release']} "
        f"({done} of {len(scope['in_scope'])} required checks, from {len(v['runs'])} run(s))"
    )
    if v["verdict"] != GO:
        head += f" -- {len(v['reasons'])} reason(s)"
    unsigned = sum(not r.get("authenticated") for r in v["runs"])
    if unsigned:
        head += f"; {unsigned} run(s) unauthenticated: integrity only (give --key PUB)"
    return head


# ---------------------------------------------------------------- I/O


def load(
    path: Path,
    *,
    allow_sandbox: bool = False,
    key: Any = None,
    require_signature: bool = False,
    pins: Mapping[str, str | None] | None = None,
) -> Run:
    """Read one bundle, verify exactly the bytes used, and extract what combine needs.

    Evidence from the reference stack (a --spark-sandbox run) proves nothing about a
    real release: it is refused unless ``allow_sandbox``. With ``key`` (an Ed25519 public
    key) a signed bundle must be signed by it; ``require_signature`` also refuses an
    unsigned one -- integrity alone cannot tell a forged bundle from a real run. A run
    without a suite digest (no checks/ suite), or with other code than ``pins`` name, is
    refused (``suite.code_problems``)."""
    from . import bundle

    # the whole check, incl. the tarball's .sha256 sidecar; the documents returned are
    # the very bytes whose digests were verified (no second read to race with)
    result, files = bundle.read_verified(path, key=key, require_signature=require_signature)
    if not result.ok:
        raise CombineError(f"{path} does not verify: {'; '.join(result.problems[:3])}")
    try:
        verdict = json.loads(files["verdict.json"])
        manifest = json.loads(files["manifest.json"])
        records = tuple(
            json.loads(content)
            for rel, content in sorted(files.items())
            if rel.startswith("checks/") and rel.endswith(".json")
        )
        waivers = tuple(Waiver(**w) for w in json.loads(files.get("waivers.json", b"[]")))
        start = parse_utc(manifest["run"]["start"])
        if manifest["run"].get("sandbox") and not allow_sandbox:
            raise CombineError(
                f"{path} is evidence from the reference stack (--spark-sandbox), not from a "
                "release target; pass --allow-sandbox to combine it anyway"
            )
        other = code_problems(manifest["run"], pins or {}, require_suite=True)
        if other:
            raise CombineError(f"{path}: other code decided it: {'; '.join(other)}")
        for rec in records:
            parse_utc(rec["end"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CombineError(f"{path}: malformed bundle ({type(exc).__name__}: {exc})") from None
    return Run(
        path=str(path),
        run_id=str(verdict.get("run_id", "")),
        release=str(verdict.get("release", "")),
        start=start,
        records=records,
        waivers=waivers,
        exempt=frozenset(verdict.get("policy", {}).get("exempt", [])),
        verdict=str(verdict.get("verdict", "")),
        authenticated=result.authenticated,
    )


def load_all(
    paths: Sequence[Path],
    *,
    allow_sandbox: bool = False,
    key: Any = None,
    require_signature: bool = False,
    pins: Mapping[str, str | None] | None = None,
) -> list[Run]:
    runs: dict[str, Run] = {}
    for path in paths:
        run = load(
            path,
            allow_sandbox=allow_sandbox,
            key=key,
            require_signature=require_signature,
            pins=pins,
        )
        runs.setdefault(run.run_id, run)  # the same run given twice (folder and tarball)
    return list(runs.values())
