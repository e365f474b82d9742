r"""RT-09: does an Alertmanager silence mute an SLO or rollback alert?

Which alerts matter is read from Prometheus' alerting rules: a rule is
protected when its labels or annotations mark it as SLO / rollback (a ``slo``
label, ``category``/``type``/``kind`` = slo or rollback, an ``slo`` or
``runbook_slo`` annotation) or its name matches one of the patterns.

A silence mutes an alert when every matcher matches the alert's labels, as
Alertmanager decides it (prometheus/alertmanager pkg/labels/matcher.go):
``=~``/``!~`` values are RE2 -- Go ``regexp`` syntax, evaluated here with
RE2 itself (google-re2), so ``(?i)`` flags, ``[[:alpha:]]`` classes,
``\pL`` and ``\Q..\E`` mean what they mean to Alertmanager -- compiled as
``^(?:value)$``; ``isEqual: false`` negates; a missing label reads as "".
Alertmanager refuses to store a silence whose regex does not compile, so one
that reaches us anyway is reported as undecidable (a failure), never skipped.

From the rules we know only an alert's *static* labels: alertname and the
rule's labels. A rule label value is a Go template Prometheus expands when
the alert fires (:mod:`pytest_spark.rules.gotemplate` lists what it can
print); labels from the expression or external labels are unknown. So a
silence is judged four ways:

- ``match``: every matcher is decided by static labels and matches;
- ``templated``: every matcher matches at least one expansion of the rule's
  templated labels (e.g. ``severity="page"`` against
  ``{{ if gt $value 14.4 }}page{{ else }}ticket{{ end }}``) -- a fail: the
  silence mutes the alert exactly when the template says page;
- ``likely``: the decided matchers match, at least one of them is a positive
  (``=``/``=~``) matcher on a static label (it targets this alert, e.g. by
  alertname), and the rest name labels we cannot see -- a fail, because the
  operator aimed the silence at the alert;
- ``possible``: only negative matchers or unknown labels decide -- a warning
  (e.g. a maintenance silence ``instance="db-1"``).

Pure: plain dicts in, findings out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Literal

import re2

from pytest_spark.rules import gotemplate
from pytest_spark.rules.findings import WARN, Finding

__all__ = [
    "DEFAULT_ALERT_PATTERNS",
    "Matcher",
    "ProtectedAlert",
    "evaluate_silences",
    "protected_alerts",
    "silence_effect",
]

Effect = Literal["match", "templated", "likely", "possible", "none"]
Decision = Literal["yes", "no", "some", "unknown"]

DEFAULT_ALERT_PATTERNS: tuple[str, ...] = (
    r"slo",
    r"error.?budget",
    r"burn.?rate|fast.?burn|slow.?burn",
    r"rollback",
    r"canary",
)
"""Case-insensitive RE2 patterns searched in alert names (for rules without SLO labels)."""

_MARK_LABELS = ("category", "type", "kind", "class")
_MARK_VALUES = ("slo", "rollback")
_MARK_ANNOTATIONS = ("slo", "runbook_slo")


def _options(case_sensitive: bool = True) -> Any:
    opts = re2.Options()
    opts.log_errors = False  # RE2 would print every bad pattern to stderr
    opts.case_sensitive = case_sensitive
    return opts


@lru_cache(maxsize=512)
def _compile(pattern: str, case_sensitive: bool = True) -> Any:
    """An RE2 program, or the RE2 error text (a str) when ``pattern`` does not compile."""
    try:
        return re2.compile(pattern, options=_options(case_sensitive))
    except re2.error as exc:
        msg = exc.args[0] if exc.args else exc
        return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


def _literal_pattern(output: gotemplate.Output) -> str:
    """An anchored RE2 pattern for the strings one template output can be."""
    return "".join(r"(?s:.*)" if p is gotemplate.ANY else re2.escape(p) for p in output)


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

    @cached_property
    def _program(self) -> Any:
        # Alertmanager: regexp.Compile("^(?:" + v + ")$")
        return _compile(f"^(?:{self.value})$") if self.is_regex else None

    @property
    def error(self) -> str:
        """Why Alertmanager would refuse this matcher ("" when it is valid RE2)."""
        return self._program if isinstance(self._program, str) else ""

    def test(self, value: str) -> bool:
        """Whether a label with this exact ``value`` satisfies the matcher (valid ones only)."""
        if self.is_regex:
            if self.error:
                raise ValueError(f"{self} is not valid RE2: {self.error}")
            hit = self._program.search(value) is not None
        else:
            hit = value == self.value
        return hit if self.is_equal else not hit

    def matches(self, labels: Mapping[str, str]) -> bool | None:
        """Whether literal ``labels`` satisfy this matcher; None when it cannot be decided.

        Undecidable: the label is not in ``labels`` (unknown before the alert
        fires) or the regex is not valid RE2 (Alertmanager would refuse it).
        """
        if self.name not in labels or self.error:
            return None
        return self.test(labels[self.name])

    def judge(self, value: str | None) -> tuple[Decision, list[str]]:
        """Decide against a rule label *template* (None: the label is not static).

        Returns the decision and, for ``some``, the literal expansions that
        match. An output with fire-time parts is decided only where its
        literal frame rules a value out (``team="ops"`` never equals
        ``team-{{ $value }}``).
        """
        if value is None or self.error:
            return "unknown", []
        results: list[bool | None] = []
        hits: list[str] = []
        for output in sorted(gotemplate.outputs(value), key=str):
            if gotemplate.ANY not in output:
                text = "".join(p for p in output if p is not None)
                results.append(self.test(text))
                if results[-1]:
                    hits.append(text)
            elif not self.is_regex:
                fits = _compile(f"^(?:{_literal_pattern(output)})$").search(self.value)
                results.append(None if fits else not self.is_equal)
            else:
                results.append(None)
        if all(r is True for r in results):
            return "yes", hits
        if any(r is True for r in results):
            return "some", hits
        if all(r is False for r in results):
            return "no", []
        return "unknown", []


@dataclass(frozen=True)
class ProtectedAlert:
    """An alerting rule that must never be muted at deploy time, and why it is protected."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    why: str = ""

    def static_labels(self) -> dict[str, str]:
        """The rule's labels as written (values may be templates) and its alertname."""
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
        program = _compile(pattern, case_sensitive=False)
        if not isinstance(program, str) and program.search(name):
            return f"name matches /{pattern}/"
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


def _decide(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> tuple[Effect, list[str]]:
    """The effect, and for ``templated`` which template expansions it mutes."""
    if not matchers:  # Alertmanager refuses these, but one that matches all must not pass
        return "match", []
    decided = [(m, *m.judge(labels.get(m.name))) for m in matchers]
    if any(d == "no" for _, d, _ in decided):
        return "none", []
    why = [
        f"its label {m.name} is the template {labels[m.name]!r}, which can expand to "
        + " or ".join(f'"{h}"' for h in hits)
        for m, d, hits in decided
        if d == "some"
    ]
    if all(d in ("yes", "some") for _, d, _ in decided):
        return ("templated" if why else "match"), why
    if any(d in ("yes", "some") and m.is_equal for m, d, _ in decided):
        return "likely", why
    return "possible", why


def silence_effect(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> Effect:
    """How surely a silence with these matchers mutes an alert with these rule labels."""
    return _decide(matchers, labels)[0]


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
        invalid = [m for m in matchers if m.error]
        for alert in alerts:
            labels = alert.static_labels()
            effect, why = _decide(matchers, labels)
            if effect == "none":
                continue
            what = _describe(silence, matchers)
            if invalid:
                bad = "; ".join(f"{m} ({m.error})" for m in invalid)
                out.append(
                    Finding(
                        "silence-matcher-invalid",
                        f"{state} {what} has a matcher that is not valid RE2: {bad}. "
                        "Alertmanager refuses such a silence (HTTP 400), so this answer did not "
                        f"come from one that validates silences: cannot tell whether it mutes "
                        f"{alert.name} ({alert.why})",
                    )
                )
            elif state == "pending":
                out.append(
                    Finding(
                        "pending-silence",
                        f"pending {what} will mute {alert.name} from {silence.get('startsAt')}",
                        WARN,
                    )
                )
            elif effect == "possible":
                unknown = sorted({m.name for m in matchers} - set(labels))
                out.append(
                    Finding(
                        "silence-may-mute",
                        f"active {what} may mute {alert.name} if it carries "
                        f"{', '.join(unknown) or 'matching labels'}",
                        WARN,
                    )
                )
            else:
                hedge = {
                    "match": "",
                    "templated": " whenever it fires with that value",
                    "likely": " (matched on its static labels)",
                }.get(effect, "")
                because = f": {'; '.join(why)}" if why else ""
                out.append(
                    Finding(
                        "silence-mutes-slo-alert",
                        f"active {what} mutes {alert.name} ({alert.why}){hedge}{because}",
                    )
                )
    return out
