"""What a Prometheus rule label template can print (Go text/template syntax)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules.gotemplate import ANY, outputs


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("page", {("page",)}),
        ("", {()}),
        ("{{ if gt $value 14.4 }}page{{ else }}ticket{{ end }}", {("page",), ("ticket",)}),
        ("{{ if a }}x{{ end }}", {("x",), ()}),
        ("{{ if a }}p{{ else if b }}q{{ else }}r{{ end }}", {("p",), ("q",), ("r",)}),
        ("{{ with $labels.team }}t{{ else }}none{{ end }}", {("t",), ("none",)}),
        ("{{ if a }}{{ if b }}x{{ else }}y{{ end }}{{ end }}", {("x",), ("y",), ()}),
        ('  {{- "page" -}}  ', {("page",)}),
        ("{{ `raw` }}", {("raw",)}),
        ("{{/* a comment */}}page", {("page",)}),
        ("{{ $x := 1 }}ok", {("ok",)}),
        ("{{ $labels.severity }}", {(ANY,)}),
        ('sev-{{ $value | printf "%.0f" }}', {("sev-", ANY)}),
        ("{{ range $labels }}x{{ end }}y", {(ANY, "y")}),
        ("{{ if a }}x", {(ANY,)}),  # no end: Prometheus prints an error text
        ("{{ end }}", {(ANY,)}),
        ("a {{- 3 }}", {("a", ANY)}),
        ("{{- if gt $value 1.0 -}} page {{- else -}} ticket {{- end -}}", {("page",), ("ticket",)}),
        (
            '{{ if eq $labels.env "prod" }}page{{ else }}{{ $labels.sev }}{{ end }}',
            {("page",), (ANY,)},
        ),
        ('{{ template "x" . }}', {(ANY,)}),
        ("{{- /* c */ -}} page", {("page",)}),
    ],
)
def test_outputs(template, expected):
    assert set(outputs(template)) == expected


def test_too_many_combinations_collapse_to_unknown():
    many = "{{ if a }}x{{ else }}y{{ end }}" * 8  # 256 combinations
    assert set(outputs(many)) == {(ANY,)}


@given(st.text(max_size=40))
def test_any_text_expands_without_error(text):
    result = outputs(text)
    assert result
    if "{{" not in text:
        assert result == {(text,) if text else ()}


# The lazy delimiter regex the tokenizer replaced: the reference for what an action is.
_REFERENCE = r"\{\{(-[ \t\r\n])?(.*?)([ \t\r\n]-)?\}\}"


@given(st.text(alphabet="{}- \tx\n", max_size=40))
def test_actions_are_what_the_delimiter_regex_found(text):
    import re

    from pytest_spark.rules.gotemplate import _actions

    want = [
        (m.start(), m.end(), m.group(2), bool(m.group(1)), bool(m.group(3)))
        for m in re.finditer(_REFERENCE, text, re.DOTALL)
    ]
    assert list(_actions(text)) == want


@pytest.mark.timeout(60)  # a hang guard: the regex took minutes on 80 KB of "{{"
@pytest.mark.parametrize("label", ["{{" * 500_000, "{{ x }}" * 150_000 + "{{", "{{-" * 300_000])
def test_megabyte_unclosed_labels_from_the_target_end_unknown(label):
    assert outputs(label) == frozenset({(ANY,)})  # unclosed: Prometheus prints an error
