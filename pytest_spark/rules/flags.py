"""BS-07 (flags match the release manifest) and PF-07 (no flag drift) rules.

The API's ``/flags`` document, as the reference stack serves it::

    {"flags": {"new_checkout_flow": false, ...},
     "definitions": {"new_checkout_flow": {"default": false, ...}, ...},
     "snapshot_version": 7, "snapshot_time": "2026-01-01T00:00:00.000Z"}

``definitions`` is optional. A new flag must be OFF both as served now and as
its default: a new code path switched on at deploy time defeats the point of
shipping it behind a flag. A kill switch only has to exist (flipping it is an
incident decision, so one that is ON is only a warning).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_spark.rules.findings import WARN, Finding

from .limits import exceeds

__all__ = ["empty_manifest", "manifest_findings", "parse_time", "snapshot_findings"]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def empty_manifest(new_flags: Sequence[str], kill_switches: Sequence[str]) -> str | None:
    """Why BS-07 cannot judge anything (no flag named at all), or None.

    With an empty manifest every ``/flags`` document would pass: that is
    "could not verify", not a pass.
    """
    if list(new_flags) or list(kill_switches):
        return None
    return (
        "release.new_flags and release.kill_switches are empty: nothing to compare /flags "
        "against (set them in spark.toml [release])"
    )


def manifest_findings(
    doc: Any, url: str, *, new_flags: Sequence[str], kill_switches: Sequence[str]
) -> list[Finding]:
    """BS-07 findings for one instance's ``/flags`` document."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("flags"), Mapping):
        return [Finding("flags-malformed", f"{url}/flags has no 'flags' object")]
    flags = doc["flags"]
    definitions = _mapping(doc.get("definitions"))
    out: list[Finding] = []
    for name in new_flags:
        if name not in flags and name not in definitions:
            out.append(Finding("new-flag-missing", f"new flag {name} is not served by {url}/flags"))
            continue
        value = flags.get(name)
        default = _mapping(definitions.get(name)).get("default")
        if default is not None and default is not False:
            out.append(
                Finding(
                    "new-flag-default-on",
                    f"new flag {name} defaults to {_json(default)} on {url} (must default OFF)",
                )
            )
        if value is not None and value is not False:
            out.append(
                Finding(
                    "new-flag-on",
                    f"new flag {name} is {_json(value)} on {url} (must be OFF at deploy)",
                )
            )
    for name in kill_switches:
        if name not in flags:
            out.append(
                Finding("kill-switch-missing", f"kill switch {name} does not exist on {url}/flags")
            )
        elif flags[name] is True:
            out.append(
                Finding("kill-switch-on", f"kill switch {name} is ON on {url}", WARN),
            )
    return out


def _json(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return repr(value)


def parse_time(text: Any) -> dt.datetime | None:
    """An ISO 8601 timestamp as an aware datetime (naive means UTC); None if unparsable."""
    if not isinstance(text, str):
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def snapshot_findings(
    instances: Mapping[str, Any], *, now: dt.datetime, max_age_s: float
) -> tuple[list[Finding], dict[str, dict[str, Any]]]:
    """PF-07: one snapshot version everywhere, each no older than ``max_age_s``.

    Returns the findings and, per URL, what was read (version, time, age) for
    the evidence.
    """
    out: list[Finding] = []
    seen: dict[str, dict[str, Any]] = {}
    versions: dict[str, list[str]] = {}
    for url, doc in instances.items():
        body = _mapping(doc)
        version = body.get("snapshot_version")
        stamp = parse_time(body.get("snapshot_time"))
        age = round((now - stamp).total_seconds(), 3) if stamp is not None else None
        seen[url] = {
            "snapshot_version": version,
            "snapshot_time": body.get("snapshot_time"),
            "age_s": age,
        }
        if version is None or isinstance(version, (bool, Mapping, list)):
            out.append(Finding("snapshot-version-missing", f"{url}/flags has no snapshot_version"))
        else:
            versions.setdefault(str(version), []).append(url)
        if stamp is None:
            out.append(
                Finding(
                    "snapshot-time-missing",
                    f"{url}/flags has no parsable snapshot_time "
                    f"(got {body.get('snapshot_time')!r})",
                )
            )
        elif age is not None and exceeds(age, max_age_s):
            out.append(
                Finding(
                    "snapshot-stale",
                    f"{url} serves flag snapshot {version} from {body.get('snapshot_time')}, "
                    f"{age:.1f} s old (max {max_age_s:g} s)",
                )
            )
        elif age is not None and age < -max_age_s:
            out.append(
                Finding(
                    "snapshot-in-future",
                    f"{url} flag snapshot_time {body.get('snapshot_time')} is {-age:.1f} s "
                    "in the future (clock skew?)",
                    WARN,
                )
            )
    if len(versions) > 1:
        detail = "; ".join(f"{v} on {', '.join(urls)}" for v, urls in versions.items())
        out.insert(
            0,
            Finding(
                "snapshot-version-drift", f"instances serve different flag snapshots: {detail}"
            ),
        )
    return out, seen
