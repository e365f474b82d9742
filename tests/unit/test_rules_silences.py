"""RT-09: which alerts are protected and which silences mute them (Alertmanager v2 matchers)."""

from __future__ import annotations

import pytest
import re2
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules import silences
from pytest_spark.rules.findings import codes, failures
from pytest_spark.rules.silences import Matcher, ProtectedAlert

# The shape of Prometheus /api/v1/rules "groups", trimmed to what the rule reads.
GROUPS = [
    {
        "name": "spark-slo-recording",
        "rules": [{"type": "recording", "name": "slo:sli_error:ratio_rate5m", "health": "ok"}],
    },
    {
        "name": "spark-slo-alerts",
        "rules": [
            {
                "type": "alerting",
                "name": "SparkErrorBudgetFastBurn",
                "labels": {"severity": "page", "slo": "availability", "category": "slo"},
                "annotations": {"summary": "fast burn"},
            },
            {
                "type": "alerting",
                "name": "SparkCanaryRollback",
                "labels": {"severity": "page", "category": "rollback"},
                "annotations": {},
            },
            {"type": "alerting", "name": "BudgetBurnRateHigh", "labels": {}, "annotations": {}},
            {
                "type": "alerting",
                "name": "CheckoutLatency",
                "labels": {"team": "pay"},
                "annotations": {"slo": "checkout p99"},
            },
            {"type": "alerting", "name": "DiskFull", "labels": {"severity": "ticket"}},
            {"type": "alerting", "name": "Watchdog", "labels": {}},
        ],
    },
]


def _m(name: str, value: str, *, regex: bool = False, equal: bool = True) -> dict[str, object]:
    return {"name": name, "value": value, "isRegex": regex, "isEqual": equal}


def _silence(*matchers: dict[str, object], state: str = "active", sid: str = "s1") -> dict:
    return {
        "id": sid,
        "status": {"state": state},
        "matchers": list(matchers),
        "createdBy": "oncall",
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "2026-01-01T02:00:00Z",
    }


def _alerts() -> list[ProtectedAlert]:
    return silences.protected_alerts(GROUPS)


def test_protected_alerts_by_label_annotation_and_name():
    found = {a.name: a.why for a in _alerts()}
    assert found == {
        "SparkErrorBudgetFastBurn": 'label slo="availability"',
        "SparkCanaryRollback": 'label category="rollback"',
        "BudgetBurnRateHigh": "name matches /burn.?rate|fast.?burn|slow.?burn/",
        "CheckoutLatency": "annotation slo",
    }
    assert silences.protected_alerts(GROUPS, patterns=()) != []
    assert [a.name for a in silences.protected_alerts(GROUPS, patterns=(r"^Watch",))] == [
        "SparkErrorBudgetFastBurn",
        "SparkCanaryRollback",
        "CheckoutLatency",
        "Watchdog",
    ]


def test_the_sandbox_fault_silence_fails_naming_the_alert():
    found = silences.evaluate_silences(
        [_silence(_m("alertname", "SparkErrorBudgetFastBurn"))], _alerts()
    )
    assert codes(found) == ["silence-mutes-slo-alert"]
    assert found[0].message == (
        'active silence s1 {alertname="SparkErrorBudgetFastBurn"} by oncall until '
        '2026-01-01T02:00:00Z mutes SparkErrorBudgetFastBurn (label slo="availability")'
    )


@pytest.mark.parametrize(
    ("matchers", "muted"),
    [
        (
            [_m("alertname", "Spark.*", regex=True)],
            {"SparkErrorBudgetFastBurn", "SparkCanaryRollback"},
        ),
        ([_m("severity", "page")], {"SparkErrorBudgetFastBurn", "SparkCanaryRollback"}),
        (
            [_m("alertname", "Watchdog", equal=False), _m("category", "slo")],
            {"SparkErrorBudgetFastBurn"},
        ),
        ([_m("alertname", "DiskFull")], set()),
        ([_m("alertname", "Spark", regex=True)], set()),  # anchored: "Spark" is not a full match
        ([_m("alertname", "sparkerrorbudgetfastburn")], set()),  # case-sensitive
        ([_m("category", "slo|rollback", regex=True), _m("severity", "page", equal=False)], set()),
    ],
)
def test_matchers_follow_alertmanager_semantics(matchers, muted):
    found = silences.evaluate_silences([_silence(*matchers)], _alerts())
    hit = {a.name for a in _alerts() if a.name in " ".join(f.message for f in failures(found))}
    assert hit == muted


def test_unknown_labels_likely_when_aimed_possible_otherwise():
    aimed = _silence(_m("alertname", "SparkCanaryRollback"), _m("instance", "api-1:8000"))
    found = silences.evaluate_silences([aimed], _alerts())
    assert codes(found) == ["silence-mutes-slo-alert"]
    assert "matched on its static labels" in found[0].message
    maintenance = _silence(_m("instance", "db-1"))
    found = silences.evaluate_silences([maintenance], _alerts())
    assert codes(found) == ["silence-may-mute"] * 4
    assert failures(found) == []
    assert "if it carries instance" in found[0].message


def test_only_active_silences_fail_pending_warn_expired_ignored():
    fast = _m("alertname", "SparkErrorBudgetFastBurn")
    found = silences.evaluate_silences(
        [_silence(fast, state="expired"), _silence(fast, state="pending", sid="p")], _alerts()
    )
    assert codes(found) == ["pending-silence"]
    assert failures(found) == []


def test_no_protected_alert_at_all_is_a_failure():
    found = silences.evaluate_silences([], [])
    assert codes(found) == ["no-slo-alerts"]
    assert silences.evaluate_silences([], _alerts()) == []


def test_a_silence_without_matchers_mutes_everything():
    assert silences.silence_effect([], {"alertname": "X"}) == "match"


def test_matcher_from_api_defaults_and_rendering():
    m = Matcher.from_api({"name": "alertname", "value": "X", "isRegex": False})
    assert m.is_equal is True  # isEqual is absent before Alertmanager 0.22
    assert str(m) == 'alertname="X"'
    assert str(Matcher("a", "b.*", is_regex=True, is_equal=False)) == 'a!~"b.*"'
    assert Matcher("a", "(", is_regex=True).matches({"a": "("}) is None  # invalid regex
    assert Matcher("missing", "x").matches({"a": "x"}) is None


LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
VALUE = st.text(max_size=12).filter(lambda v: "{{" not in v)  # "{{" makes a template


@given(st.dictionaries(LABEL, VALUE, min_size=1), st.data())
def test_equality_regex_and_negation_agree(labels, data):
    name = data.draw(st.sampled_from(sorted(labels)))
    other = data.draw(VALUE)
    value = labels[name]
    eq = Matcher(name, other)
    assert eq.matches(labels) is (other == value)
    assert Matcher(name, re2.escape(other), is_regex=True).matches(labels) is (other == value)
    assert Matcher(name, other, is_equal=False).matches(labels) is (other != value)
    assert silences.silence_effect([Matcher(name, value)], labels) == "match"


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "name": LABEL,
                "value": st.text(max_size=10),
                "isRegex": st.booleans(),
                "isEqual": st.booleans(),
            }
        ),
        max_size=4,
    ),
    st.dictionaries(LABEL, VALUE, max_size=4),
)
def test_arbitrary_matchers_never_crash(matchers, labels):
    parsed = [Matcher.from_api(m) for m in matchers]
    assert silences.silence_effect(parsed, labels) in (
        "match",
        "templated",
        "likely",
        "possible",
        "none",
    )
    alert = ProtectedAlert("SparkErrorBudgetFastBurn", labels, "label slo")
    for finding in silences.evaluate_silences([_silence(*matchers)], [alert]):
        assert finding.message


# --- RE2, as Alertmanager compiles it: regexp.Compile("^(?:" + value + ")$")

FAST = ProtectedAlert("SparkErrorBudgetFastBurn", {"severity": "page", "slo": "availability"}, "x")
SLO_FAST = ProtectedAlert("SLOFastBurn", {"severity": "page"}, "name matches /slo/")


@pytest.mark.parametrize(
    ("matcher", "alert"),
    [
        # RE2 flag groups apply from where they stand: the second branch is case-insensitive
        (_m("alertname", "Foo|(?i)slo.*burn", regex=True), SLO_FAST),
        # POSIX classes inside brackets are RE2 syntax (Python re reads a character set)
        (_m("alertname", "Spark[[:alpha:]]+", regex=True), FAST),
        # siblings: Unicode classes and \Q...\E quoting are RE2 syntax too
        (_m("alertname", r"Spark\pL+", regex=True), FAST),
        (_m("alertname", r"\QSparkErrorBudgetFastBurn\E", regex=True), FAST),
        (_m("alertname", r"(?i:sparkerrorbudget)FastBurn", regex=True), FAST),
        (_m("alertname", r"(?U)Spark.+", regex=True), FAST),  # ungreedy: still anchored
        (_m("alertname", "Foo|SLO.*", regex=True), SLO_FAST),  # the group keeps | inside
    ],
)
def test_re2_matchers_that_mute_fail(matcher, alert):
    found = silences.evaluate_silences([_silence(matcher)], [alert])
    assert codes(found) == ["silence-mutes-slo-alert"]
    assert failures(found) == found
    assert alert.name in found[0].message


@pytest.mark.parametrize(
    "matcher",
    [
        _m("alertname", "Spark", regex=True),  # anchored at both ends
        _m("alertname", "ErrorBudget", regex=True),
        _m("alertname", "Spark[[:digit:]]+", regex=True),
        _m("alertname", "Spark.*", regex=True, equal=False),  # !~
        _m("alertname", "SparkErrorBudgetFastBurn", equal=False),  # !=
        _m("alertname", "sparkerrorbudgetfastburn", regex=True),  # case-sensitive by default
        _m("slo", "avail", regex=True),
    ],
)
def test_re2_matchers_that_do_not_mute_pass(matcher):
    assert silences.evaluate_silences([_silence(matcher)], [FAST]) == []


def test_negative_matchers_mute_when_the_value_differs():
    found = silences.evaluate_silences(
        [_silence(_m("alertname", "Disk.*", regex=True, equal=False), _m("severity", "page"))],
        [FAST],
    )
    assert codes(found) == ["silence-mutes-slo-alert"]
    assert (
        silences.silence_effect(
            [Matcher("severity", "ticket", is_equal=False)], {"severity": "page"}
        )
        == "match"
    )


def test_dot_does_not_match_newline_and_dollar_is_end_of_text():
    # Go/RE2: "." excludes "\n" unless (?s); "$" outside (?m) is the end of the text only
    assert Matcher("a", "x.y", is_regex=True).matches({"a": "x\ny"}) is False
    assert Matcher("a", "(?s)x.y", is_regex=True).matches({"a": "x\ny"}) is True
    assert Matcher("a", "x", is_regex=True).matches({"a": "x\n"}) is False


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("Spark(", "missing )"),
        ("(?!Disk).*", "invalid perl operator"),  # lookahead: Python re has it, RE2 does not
        (r"(a)\1", "invalid escape"),  # backreferences neither
    ],
)
def test_a_matcher_alertmanager_would_refuse_is_undecidable_and_fails(value, error):
    matcher = Matcher("alertname", value, is_regex=True)
    assert error in matcher.error
    assert matcher.matches({"alertname": "SparkX"}) is None
    found = silences.evaluate_silences([_silence(_m("alertname", value, regex=True))], [FAST])
    assert codes(found) == ["silence-matcher-invalid"]
    assert failures(found) == found
    assert "not valid RE2" in found[0].message and "HTTP 400" in found[0].message


def test_an_invalid_matcher_beside_one_that_rules_the_alert_out_says_nothing():
    silence = _silence(_m("alertname", "DiskFull"), _m("x", "(", regex=True))
    assert silences.evaluate_silences([silence], [FAST]) == []


def test_name_patterns_are_re2_case_insensitive():
    groups = [{"rules": [{"type": "alerting", "name": "SLOFastBurn", "labels": {}}]}]
    assert [a.why for a in silences.protected_alerts(groups, (r"slo\pL*",))] == [
        r"name matches /slo\pL*/"
    ]
    assert silences.protected_alerts(groups, ("(",)) == []  # a bad pattern matches nothing


# --- rule labels are Go templates Prometheus expands when the alert fires

PAGE_OR_TICKET = "{{ if gt $value 14.4 }}page{{ else }}ticket{{ end }}"


def _templated(severity: str) -> ProtectedAlert:
    return ProtectedAlert("SparkErrorBudgetFastBurn", {"severity": severity, "slo": "a"}, "x")


def test_a_silence_on_one_expansion_of_a_templated_label_fails_saying_why():
    found = silences.evaluate_silences(
        [_silence(_m("severity", "page"))], [_templated(PAGE_OR_TICKET)]
    )
    assert codes(found) == ["silence-mutes-slo-alert"]
    assert failures(found) == found
    assert "whenever it fires with that value" in found[0].message
    assert f"its label severity is the template {PAGE_OR_TICKET!r}" in found[0].message
    assert 'can expand to "page"' in found[0].message


@pytest.mark.parametrize(
    ("severity", "matcher", "effect"),
    [
        (PAGE_OR_TICKET, Matcher("severity", "page"), "templated"),
        (PAGE_OR_TICKET, Matcher("severity", "page|ticket", is_regex=True), "match"),
        (PAGE_OR_TICKET, Matcher("severity", "critical"), "none"),
        (PAGE_OR_TICKET, Matcher("severity", "ticket", is_equal=False), "templated"),
        ("{{ if gt $value 14.4 }}page{{ end }}", Matcher("severity", ""), "templated"),
        ('{{- "page" -}}', Matcher("severity", "page"), "match"),  # a constant, trimmed
        (
            "{{ if gt $value 14.4 }}page{{ else if gt $value 6 }}ticket{{ else }}info{{ end }}",
            Matcher("severity", "info"),
            "templated",
        ),
        ("{{ $labels.severity }}", Matcher("severity", "page"), "possible"),  # fire-time only
        ("sev-{{ $value }}", Matcher("severity", "page"), "none"),  # can never equal it
        ("sev-{{ $value }}", Matcher("severity", "sev-1"), "possible"),
        ("{{ if $value }}page", Matcher("severity", "page"), "possible"),  # unparsable
    ],
)
def test_templated_labels_are_judged_by_what_they_can_print(severity, matcher, effect):
    labels = {"severity": severity, "alertname": "A"}
    assert silences.silence_effect([matcher], labels) == effect


def test_an_alertname_aimed_silence_with_a_templated_label_is_likely():
    labels = {"severity": "{{ $labels.sev }}", "alertname": "A"}
    assert (
        silences.silence_effect([Matcher("alertname", "A"), Matcher("severity", "page")], labels)
        == "likely"
    )
