"""The release one-liner (CANARY.md "Release one-liner"), from the stage evidence only.

Stages passed, rollbacks, and the six metrics of the last judged stage, canary vs
baseline -- in English or Turkish. ``summarize`` is pure (stage dicts as the
stage gates record them under the observation ``stage``); ``from_bundle`` reads
them from a bundle folder or .tar.gz (regular files, size-capped).
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .gate import METRICS, fmt
from .stages import STAGES, check_id

MAX_RECORD_BYTES = 20 * 1024 * 1024
SHORT = {
    "latency_p95": "p95",
    "http_5xx": "5xx",
    "ws_staleness_p95": "ws_stale_p95",
    "risk_blocks": "risk_block",
    "idempotency_conflicts": "idemp_conflict",
    "csp_violations": "csp_viol",
}
TEXT = {
    "en": {
        "canary": "canary", "stages": "stages GO", "rollbacks": "rollbacks",
        "vs": "vs baseline", "none": "no stage judged", "stopped": "stopped at",
    },
    "tr": {
        "canary": "kanarya", "stages": "aşama GO", "rollbacks": "geri alma",
        "vs": "referans", "none": "değerlendirilen aşama yok", "stopped": "durdu:",
    },
}  # fmt: skip


def summarize(
    release: str,
    stages: Iterable[Mapping[str, Any]],
    *,
    lang: str = "en",
    blast: Mapping[str, Any] | None = None,
) -> str:
    """One line: ``Spark v1.4.0 canary: 5/5 stages GO, 0 rollbacks | p95 ... -- GO``.
    ``blast``: CN-00's outcome and rollback, when it ran (a NO-GO there stops stage 1)."""
    if lang not in TEXT:
        raise ValueError(f"language {lang!r}: use one of {', '.join(TEXT)}")
    t = TEXT[lang]
    by_check = {s.get("check"): s for s in stages}
    judged = [by_check[check_id(w)] for w in STAGES if check_id(w) in by_check]
    passed = [s for s in judged if s.get("outcome") == "GO"]
    rollbacks = sum(1 for s in judged if s.get("rollback"))
    blast_failed = bool(blast) and blast.get("outcome") not in ("passed", None)
    rollbacks += 1 if blast and blast.get("rollback") else 0
    head = f"Spark {release or '?'} {t['canary']}: {len(passed)}/{len(STAGES)} {t['stages']}"
    head += f", {rollbacks} {t['rollbacks']}"
    if blast_failed:
        head += f" ({t['stopped']} CN-00)"
    if not judged:
        return f"{head} | {t['none']} -- NO-GO"
    failed = next((s for s in judged if s.get("outcome") != "GO"), None)
    if failed is not None:
        head += f" ({t['stopped']} {failed['check']})"
    last = failed or judged[-1]
    values = last.get("values", {})
    canary, base = values.get("canary", {}), values.get("baseline") or values.get("baseline.json")
    parts = []
    for name, (_tid, unit, _key) in METRICS.items():
        b = (base or {}).get(name)
        parts.append(f"{SHORT[name]} {fmt(canary.get(name), unit)} ({t['vs']} {fmt(b, unit)})")
    verdict = "GO" if len(passed) == len(STAGES) else "NO-GO"
    return f"{head} | " + " | ".join(parts) + f" -- {verdict}"


def blast_from_records(records: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """CN-00's outcome and rollback record, if the run had it."""
    for rec in records:
        if rec.get("id") == "CN-00":
            rollback = [
                o["data"] for o in rec.get("observations", []) if o.get("name") == "rollback"
            ]
            return {"outcome": rec.get("outcome"), "rollback": rollback[0] if rollback else None}
    return None


def stages_from_records(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for rec in records:
        for obs in rec.get("observations", []):
            if obs.get("name") == "stage" and isinstance(obs.get("data"), dict):
                out.append(obs["data"])
    return out


def from_bundle(path: Path) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None]:
    """(release, stage dicts, CN-00) from a bundle folder or .tar.gz; ValueError when
    unreadable."""
    records: list[dict[str, Any]] = []
    release = ""
    if path.is_dir():
        verdict = path / "verdict.json"
        if verdict.is_file():
            release = json.loads(verdict.read_text()).get("release", "")
        for rec in sorted((path / "checks").glob("CN-*.json")):
            if rec.is_file() and not rec.is_symlink() and rec.stat().st_size < MAX_RECORD_BYTES:
                records.append(json.loads(rec.read_text()))
    elif path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        try:
            with tarfile.open(path, "r:gz") as tar:
                for member in tar:
                    if not member.isfile() or member.size > MAX_RECORD_BYTES:
                        continue
                    parts = member.name.split("/")
                    wanted = len(parts) == 3 and parts[1] == "checks" and parts[2].startswith("CN-")
                    is_verdict = len(parts) == 2 and parts[1] == "verdict.json"
                    if wanted or is_verdict:
                        fh = tar.extractfile(member)
                        doc = json.loads(fh.read()) if fh else {}
                        if is_verdict:
                            release = doc.get("release", "")
                        else:
                            records.append(doc)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ValueError(f"{path}: not a readable bundle ({exc})") from None
    else:
        raise ValueError(f"no bundle at {path} (expected a bundle folder or .tar.gz)")
    return release, stages_from_records(records), blast_from_records(records)


def stage_tables_markdown(records: Iterable[Mapping[str, Any]]) -> str:
    """summary.md: each judged stage's six metrics, canary vs baseline, as a small table
    (empty when the run judged no stage)."""
    out: list[str] = []
    for stage in stages_from_records(records):
        values = stage.get("values", {})
        canary, base = values.get("canary", {}), values.get("baseline") or {}
        tests = {c.get("metric"): c for c in stage.get("comparisons", [])}
        out += [
            f"**{stage.get('check')} at {stage.get('weight')} %: {stage.get('outcome')}**",
            "",
            "| metric | canary | baseline | test | p-value |",
            "|---|---|---|---|---|",
        ]
        for name, (_tid, unit, _key) in METRICS.items():
            comp = tests.get(name, {})
            p = comp.get("p_value")
            out.append(
                f"| {SHORT[name]} | {fmt(canary.get(name), unit)} | {fmt(base.get(name), unit)} "
                f"| {comp.get('decision', '')} | {'' if p is None else f'{p:.3g}'} |"
            )
        out.append("")
    return "\n".join(out)


def stage_table_html(stage: Mapping[str, Any]) -> str:
    """The same table for the HTML report (values are numbers we formatted: no markup)."""
    import html

    values = stage.get("values", {})
    canary, base = values.get("canary", {}), values.get("baseline") or {}
    rows = "".join(
        f"<tr><td>{SHORT[n]}</td><td>{html.escape(fmt(canary.get(n), u))}</td>"
        f"<td>{html.escape(fmt(base.get(n), u))}</td></tr>"
        for n, (_t, u, _k) in METRICS.items()
    )
    title = html.escape(f"{stage.get('check')} at {stage.get('weight')} %: {stage.get('outcome')}")
    return (
        f"<div><b>{title}</b><table><tr><th>metric</th><th>canary</th><th>baseline</th></tr>"
        f"{rows}</table></div>"
    )
