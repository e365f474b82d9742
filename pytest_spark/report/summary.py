"""summary.md: the verdict as a PR comment / CI step summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_MARKDOWN = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>!|#"})


def _cell(text: str) -> str:
    """Text from a target, made inert: no links, images, HTML or table breaks in a PR comment."""
    return (text or "").replace("\n", " ")[:300].translate(_MARKDOWN)


def render(verdict: Mapping[str, Any], records: Sequence[Mapping[str, Any]], bundle: str) -> str:
    icon = "✅" if verdict["verdict"] == "GO" else "⛔"
    release = verdict.get("release") or "unreleased"
    out = [f"## {icon} Spark release {release}: **{verdict['verdict']}**", ""]
    if verdict["reasons"]:
        out += ["**Why NO-GO**", ""]
        out += [
            f"- `{r['check']}` {r['outcome']}: {_cell(r['message'])}" for r in verdict["reasons"]
        ]
        out.append("")
    if verdict.get("warnings"):
        out += ["**Warnings (non-blocking)**", ""]
        out += [
            f"- `{w['check']}` {w['outcome']}: {_cell(w['message'])}" for w in verdict["warnings"]
        ]
        out.append("")
    counts = ", ".join(f"{k} {v}" for k, v in verdict["counts"].items() if v)
    out += [f"Checks: {counts or 'none'}", ""]
    out += ["| id | title | severity | outcome | message |", "|---|---|---|---|---|"]
    outcomes = verdict.get("outcomes", {})
    for rec in sorted(records, key=lambda r: r["id"]):
        eff = outcomes.get(rec["id"], rec["outcome"])
        shown = eff if eff == rec["outcome"] else f"{eff} (raw: {rec['outcome']})"
        out.append(
            f"| {rec['id']} | {_cell(rec['title'])} | {rec['severity']} | {shown} | "
            f"{_cell(rec.get('message', ''))} |"
        )
    waivers = verdict.get("waivers", {})
    for kind in ("applied", "expired"):
        for w in waivers.get(kind, []):
            out.append(
                f"\nWaiver {kind}: `{w['check']}` by {w['approver']} until {w['expires']} -- "
                f"{_cell(w['justification'])}"
            )
    if any(str(r.get("id", "")).startswith("CN-") for r in records):
        from ..canary.oneliner import stage_tables_markdown  # canary runs only

        tables = stage_tables_markdown(records)
        out += ["", "**Canary stages (canary vs baseline)**", "", tables] if tables else []
    out += ["", f"Bundle: `{bundle}` (run `pytest-spark verify` on it)", ""]
    return "\n".join(out)
