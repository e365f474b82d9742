"""JUnit XML in the checks' words: test names are check ids and titles, outcomes follow the
verdict (an error is ``<error>``, a waived failure is a visible waiver), and the verdict,
release and run id are suite properties (issue 15; EVIDENCE.md, Reports).

pytest's junitxml plugin names a test case after its node id and decides failure versus
error by phase (call = failure), not by what went wrong; it offers no hook for either.
So the file it wrote is rewritten once, after it is written and before the bundle copies
it, from the same records and verdict every other report uses.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import catalog
from . import outcome as vocab

RESULT_TAGS = ("failure", "error", "skipped")
_COUNT_ATTR = {"failure": "failures", "error": "errors", "skipped": "skipped"}


def rewrite(
    path: Path,
    verdict: Mapping[str, Any] | None,
    release: str,
    run_id: str,
) -> str:
    """Rewrite pytest's JUnit file in place (atomically); returns a problem, or "".

    A file that cannot be read back is left as pytest wrote it: the verdict and the
    bundle do not depend on it, so it is a warning, not a crash at the end of the run.
    """
    try:
        tree = ET.parse(path)
    except (ET.ParseError, OSError) as exc:
        return f"JUnit XML {path} left as pytest wrote it: {exc}"
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    waivers = {w["check"]: w for w in (verdict or {}).get("waivers", {}).get("applied", [])}
    for suite in suites:
        for case in suite.findall("testcase"):
            delta = rename_and_reclassify(case, waivers)
            for attr, n in delta.items():
                suite.set(attr, str(int(suite.get(attr, "0")) + n))
        if verdict is not None:
            add_suite_properties(suite, suite_properties(verdict, release, run_id))
    _write_atomic(path, tree)
    return ""


def suite_properties(verdict: Mapping[str, Any], release: str, run_id: str) -> dict[str, str]:
    from ..verdict import scope_label

    return {
        "spark_verdict": str(verdict["verdict"]),
        "spark_release": release or "unreleased",
        "spark_run_id": run_id,
        "spark_scope": scope_label(verdict).removeprefix(" for ") or "all checks",
    }


def add_suite_properties(suite: ET.Element, props: Mapping[str, str]) -> None:
    """<properties> is the first child of <testsuite> (the JUnit schema pytest follows)."""
    block = suite.find("properties")
    if block is None:
        block = ET.Element("properties")
        suite.insert(0, block)
    for name, value in props.items():
        ET.SubElement(block, "property", name=name, value=value)


def _properties(case: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in case.findall("properties/property")}


def rename_and_reclassify(case: ET.Element, waivers: Mapping[str, Any]) -> dict[str, int]:
    """One test case of a check: name it "PF-02 NTP", give it the shown outcome's element.

    Returns how the suite's failures/errors/skipped counts change.
    """
    props = _properties(case)
    cid = props.get("spark_check", "")
    if cid not in catalog.BY_ID:
        return {}
    function = case.get("name", "")
    params = function.partition("[")[2]
    case.set("name", f"{cid} {catalog.BY_ID[cid].title}" + (f" [{params}" if params else ""))
    block = case.find("properties")
    if block is not None and function:
        ET.SubElement(block, "property", name="spark_test", value=function)
    word = props.get("spark_outcome", "")
    if word not in vocab.WORDS:
        return {}
    delta: dict[str, int] = {}
    results = [child for child in case if child.tag in RESULT_TAGS]
    target = vocab.WORDS[word].junit
    for child in results:
        old = child.tag
        text = child.get("message", "").split("\n", 1)[0]
        if word == vocab.WAIVED:
            w = waivers.get(cid)
            by = f" by {w['approver']} until {w['expires']}: {w['justification']}" if w else ""
            child.tag = "skipped"
            child.set("type", "spark.waived")
            child.set("message", f"WAIVED{by} -- {text}")
        elif word == vocab.NOT_VERIFIED and old == "skipped":
            child.set("type", "spark.not-verified")
            child.set("message", vocab.message(word, _skip_text(text), skip_kind=_kind(text)))
        elif target in ("error", "failure") and old != "skipped":
            child.tag = target
            child.set("message", text)
        if child.tag != old:
            delta[_COUNT_ATTR[old]] = delta.get(_COUNT_ATTR[old], 0) - 1
            delta[_COUNT_ATTR[child.tag]] = delta.get(_COUNT_ATTR[child.tag], 0) + 1
    return delta


def _skip_text(text: str) -> str:
    return text.removeprefix("Skipped: ").removeprefix(vocab.POLICY_PREFIX)


def _kind(text: str) -> str:
    return "policy" if text.removeprefix("Skipped: ").startswith(vocab.POLICY_PREFIX) else ""


def _write_atomic(path: Path, tree: ET.ElementTree) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            tree.write(fh, encoding="utf-8", xml_declaration=True)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
