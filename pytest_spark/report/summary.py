"""summary.md: the verdict as a PR comment / CI step summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import outcome as vocab

_MARKDOWN = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>!|#"})


def _cell(text: str) -> str:
    """Text from a target, made inert: no links, images, HTML or table breaks in a PR comment."""
    return (text or "").replace("\n", " ")[:300].translate(_MARKDOWN)


def render(verdict: Mapping[str, Any], records: Sequence[Mapping[str, Any]], bundle: str) -> str:
    """One function per section, so a new section (canary stages, ...) is one more call."""
    out = header(verdict)
    out += reasons(verdict)
    out += warnings(verdict)
    out += checks_table(verdict, records)
    out += waivers(verdict)
    out += canary_stages(records)
    out += ["", f"Bundle: `{bundle}` (run `pytest-spark verify` on it)", ""]
    return "\n".join(out)


def canary_stages(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each stage's six metrics, canary vs baseline (canary runs only)."""
    if not any(str(r.get("id", "")).startswith("CN-") for r in records):
        return []
    from ..canary.oneliner import stage_tables_markdown

    tables = stage_tables_markdown(records)
    return ["", "**Canary stages (canary vs baseline)**", "", tables] if tables else []


def header(verdict: Mapping[str, Any]) -> list[str]:
    icon = "✅" if verdict["verdict"] == "GO" else "⛔"
    release = verdict.get("release") or "unreleased"
    return [f"## {icon} Spark release {release}: **{verdict['verdict']}**", ""]


def reasons(verdict: Mapping[str, Any]) -> list[str]:
    if not verdict["reasons"]:
        return []
    out = ["**Why NO-GO**", ""]
    for r in verdict["reasons"]:
        word, text = vocab.reason_word(r)
        out.append(f"- `{r['check']}` {word}: {_cell(text)}")
    return [*out, ""]


def warnings(verdict: Mapping[str, Any]) -> list[str]:
    if not verdict.get("warnings"):
        return []
    out = ["**Warnings (non-blocking)**", ""]
    out += [f"- `{w['check']}` {w['outcome']}: {_cell(w['message'])}" for w in verdict["warnings"]]
    return [*out, ""]


def checks_table(verdict: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> list[str]:
    """id, title, outcome in the shared vocabulary (raw outcome when it differs), message."""
    rows = sorted(records, key=lambda r: r["id"])
    shown = {rec["id"]: vocab.record_shown(rec, verdict) for rec in rows}
    counts = vocab.counts_text(vocab.shown_counts(shown.values()))
    out = [f"Checks: {counts}", ""]
    out += ["| id | title | severity | outcome | message |", "|---|---|---|---|---|"]
    for rec in rows:
        word = shown[rec["id"]]
        label = (
            word
            if word in (rec["outcome"], vocab.NOT_VERIFIED)
            else f"{word} (raw: {rec['outcome']})"
        )
        text = vocab.message(word, rec.get("message", ""), skip_kind=rec.get("skip_kind", ""))
        out.append(
            f"| {rec['id']} | {_cell(rec['title'])} | {rec['severity']} | {label} | {_cell(text)} |"
        )
    return out


def waivers(verdict: Mapping[str, Any]) -> list[str]:
    out = []
    for kind in ("applied", "expired"):
        for w in verdict.get("waivers", {}).get(kind, []):
            out.append(
                f"\nWaiver {kind}: `{w['check']}` by {w['approver']} until {w['expires']} -- "
                f"{_cell(w['justification'])}"
            )
    return out
