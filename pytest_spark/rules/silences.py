"""RT-09: does an Alertmanager silence mute an SLO or rollback alert?

Which alerts matter is read from Prometheus' alerting rules: a rule is
protected when its labels or annotations mark it as SLO / rollback (a ``slo``
label, ``category``/``type``/``kind`` = slo or rollback, an ``slo`` or
``runbook_slo`` annotation) or its name matches one of the patterns.

A silence mutes an alert when every matcher matches the alert's labels
(Alertmanager v2 semantics: ``isRegex`` anchors the RE2 pattern on both ends,
``isEqual: false`` negates, a missing label reads as ""). From the rules we
know only an alert's *static* labels (alertname + the rule's labels); labels
coming from the expression or Prometheus' external labels are unknown before
the alert fires. So a silence is judged three ways:

- ``match``: every matcher is decided by static labels and matches;
- ``likely``: the decided matchers match, at least one of them is a positive
  (``=``/``=~``) matcher on a static label (it targets this alert, e.g. by
  alertname), and the rest name labels we cannot see -- a fail, because the
  operator aimed the silence at the alert;
- ``possible``: only negative matchers or unknown labels decide -- a warning
  (e.g. a maintenance silence ``instance="db-1"``).

Pure: plain dicts in, findings out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_spark.rules.findings import WARN, Finding

__all__ = [
    "DEFAULT_ALERT_PATTERNS",
    "Matcher",
    "ProtectedAlert",
    "evaluate_silences",
    "protected_alerts",
    "silence_effect",
]

Effect = Literal["match", "likely", "possible", "none"]

DEFAULT_ALERT_PATTERNS: tuple[str, ...] = (
    r"slo",
    r"error.?budget",
    r"burn.?rate|fast.?burn|slow.?burn",
    r"rollback",
    r"canary",
)
"""Case-insensitive regexes searched in alert names (for rules without SLO labels)."""

_MARK_LABELS = ("category", "type", "kind", "class")
_MARK_VALUES = ("slo", "rollback")
_MARK_ANNOTATIONS = ("slo", "runbook_slo")


@dataclass(frozen=True)
class Matcher:
    """One matcher of a silence (Alertmanager API v2)."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Matcher:
        """From the v2 JSON; ``isEqual`` is absent before Alertmanager 0.22 (means true)."""
        return cls(
            name=str(data.get("name", "")),
            value=str(data.get("value", "")),
            is_regex=bool(data.get("isRegex", False)),
            is_equal=bool(data.get("isEqual", True)),
        )

    def __str__(self) -> str:
        op = (
            ("=~" if self.is_regex else "=") if self.is_equal else ("!~" if self.is_regex else "!=")
        )
        return f'{self.name}{op}"{self.value}"'

    def matches(self, labels: Mapping[str, str]) -> bool | None:
        """Whether the label set satisfies this matcher; None when it cannot be decided.

        Undecidable: the label is not in ``labels`` (unknown before the alert
        fires) or the regex is not valid Python syntax (RE2 extensions).
        """
        if self.name not in labels:
            return None
        actual = labels[self.name]
        if self.is_regex:
            try:
                hit = re.fullmatch(self.value, actual, flags=re.DOTALL) is not None
            except (re.error, RecursionError, OverflowError):
                return None
        else:
            hit = actual == self.value
        return hit if self.is_equal else not hit


@dataclass(frozen=True)
class ProtectedAlert:
    """An alerting rule that must never be muted at deploy time, and why it is protected."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    why: str = ""

    def static_labels(self) -> dict[str, str]:
        """What every alert of this rule carries for sure: its rule labels and alertname."""
        return {**{str(k): str(v) for k, v in self.labels.items()}, "alertname": self.name}


def _protected_reason(
    name: str, labels: Mapping[str, Any], annotations: Mapping[str, Any], patterns: Sequence[str]
) -> str:
    if "slo" in labels:
        return f'label slo="{labels["slo"]}"'
    for key in _MARK_LABELS:
        value = str(labels.get(key, "")).lower()
        if value in _MARK_VALUES:
            return f'label {key}="{labels[key]}"'
    for key in _MARK_ANNOTATIONS:
        if key in annotations:
            return f"annotation {key}"
    for pattern in patterns:
        try:
            if re.search(pattern, name, flags=re.IGNORECASE):
                return f"name matches /{pattern}/"
        except re.error:
            continue
    return ""


def protected_alerts(
    groups: Iterable[Mapping[str, Any]], patterns: Sequence[str] = DEFAULT_ALERT_PATTERNS
) -> list[ProtectedAlert]:
    """The SLO / rollback alerting rules in a Prometheus ``/api/v1/rules`` ``groups`` list."""
    out: dict[str, ProtectedAlert] = {}
    for group in groups:
        for rule in group.get("rules") or []:
            if rule.get("type") != "alerting":
                continue
            name = str(rule.get("name", ""))
            labels = rule.get("labels") or {}
            why = _protected_reason(name, labels, rule.get("annotations") or {}, patterns)
            if name and why and name not in out:
                out[name] = ProtectedAlert(name, dict(labels), why)
    return list(out.values())


def silence_effect(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> Effect:
    """How surely a silence with these matchers mutes an alert with these static labels."""
    if not matchers:  # Alertmanager refuses these, but one that matches all must not pass
        return "match"
    decided = [(m, m.matches(labels)) for m in matchers]
    if any(result is False for _, result in decided):
        return "none"
    if all(result is True for _, result in decided):
        return "match"
    if any(result is True and m.is_equal for m, result in decided):
        return "likely"
    return "possible"


def _describe(silence: Mapping[str, Any], matchers: Sequence[Matcher]) -> str:
    sid = str(silence.get("id", "?"))
    shown = ", ".join(str(m) for m in matchers) or "(no matchers)"
    who = silence.get("createdBy") or "?"
    ends = silence.get("endsAt") or "?"
    return f"silence {sid} {{{shown}}} by {who} until {ends}"


def evaluate_silences(
    silences: Iterable[Mapping[str, Any]], alerts: Sequence[ProtectedAlert]
) -> list[Finding]:
    """RT-09 findings: active silences that mute protected alerts (pending ones warn).

    With no protected alert at all there is nothing a canary could page on,
    which is as blind as a muted one: a failure.
    """
    out: list[Finding] = []
    if not alerts:
        out.append(
            Finding(
                "no-slo-alerts",
                "no SLO or rollback alerting rule found in Prometheus rules "
                "(looked for slo/category labels and names like "
                f"{', '.join(DEFAULT_ALERT_PATTERNS)})",
            )
        )
    for silence in silences:
        state = str((silence.get("status") or {}).get("state", ""))
        if state not in ("active", "pending"):
            continue
        matchers = [Matcher.from_api(m) for m in silence.get("matchers") or []]
        for alert in alerts:
            effect = silence_effect(matchers, alert.static_labels())
            if effect == "none":
                continue
            what = _describe(silence, matchers)
            if state == "pending":
                out.append(
                    Finding(
                        "pending-silence",
                        f"pending {what} will mute {alert.name} from {silence.get('startsAt')}",
                        WARN,
                    )
                )
            elif effect == "possible":
                unknown = sorted({m.name for m in matchers} - set(alert.static_labels()))
                out.append(
                    Finding(
                        "silence-may-mute",
                        f"active {what} may mute {alert.name} if it carries "
                        f"{', '.join(unknown) or 'matching labels'}",
                        WARN,
                    )
                )
            else:
                hedge = "" if effect == "match" else " (matched on its static labels)"
                out.append(
                    Finding(
                        "silence-mutes-slo-alert",
                        f"active {what} mutes {alert.name} ({alert.why}){hedge}",
                    )
                )
    return out
