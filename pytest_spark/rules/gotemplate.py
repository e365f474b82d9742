"""What a Go ``text/template`` can print, known without running it.

Prometheus expands every alerting-rule label value as a Go template when the
alert fires (``$value``, ``$labels``, ``$externalLabels`` are in scope;
prometheus/rules/alerting.go). So a rule label such as
``{{ if gt $value 14.4 }}page{{ else }}ticket{{ end }}`` is ``page`` or
``ticket`` depending on the sample, and a silence on ``severity="page"``
mutes that alert exactly when it pages.

No Python library evaluates Go templates, and the data is not known before the
alert fires anyway, so this reads the template's *shape* (text/template
syntax: ``{{`` ``}}`` delimiters, ``{{-``/``-}}`` trim markers, comments,
``if``/``with``/``else``/``else if``/``end``, ``range``, ``define``/
``template``/``block``) and lists every output it can produce as a sequence
of literal text and :data:`ANY` (something only known at fire time).
Anything it does not understand becomes :data:`ANY`: never a false "cannot".
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["ANY", "Output", "is_template", "outputs"]

ANY = None
"""A part of an output that is only known when the alert fires."""

Output = tuple[str | None, ...]
"""One possible expansion: literal strings and ANY, adjacent literals merged."""

MAX_OUTPUTS = 64
_ASSIGN = re.compile(r"\$\w*\s*:?=(?!=)")
_KEYWORD = re.compile(
    r"(if|with|range|else|end|define|block|template|break|continue)\b\s*(.*)\Z", re.DOTALL
)
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`', re.DOTALL)


class _Unparsable(Exception):
    pass


@dataclass(frozen=True)
class _Branch:
    """Alternatives (if/else, with/else): exactly one of them is printed."""

    choices: tuple[tuple[object, ...], ...]


def is_template(value: str) -> bool:
    """Whether Prometheus' expansion can change ``value`` (it has an action)."""
    return "{{" in value


_SPACE = " \t\r\n"


def _actions(text: str) -> Iterator[tuple[int, int, str, bool, bool]]:
    """(start, end, body, trim left, trim right) of each ``{{ ... }}``, left to right.

    str.find, not a regex: a lazy ``{{(.*?)}}`` retried at every ``{{`` of an unclosed
    label is quadratic (an 80 KB label of ``{{`` took minutes), and labels come from
    the target's Prometheus."""
    pos = 0
    while (start := text.find("{{", pos)) != -1:
        end = text.find("}}", start + 2)
        if end == -1:
            return
        body = text[start + 2 : end]
        left = len(body) >= 2 and body[0] == "-" and body[1] in _SPACE
        if left:
            body = body[2:]
        right = len(body) >= 2 and body[-1] == "-" and body[-2] in _SPACE
        if right:
            body = body[:-2]
        yield start, end + 2, body, left, right
        pos = end + 2


def _tokens(text: str) -> list[tuple[str, str]]:
    """("text", s) and ("action", body) in order, trim markers applied."""
    out: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for start, end, body, left, right in _actions(text):
        chunk = text[pos:start]
        if trim_next:
            chunk = chunk.lstrip(_SPACE)
        if left:
            chunk = chunk.rstrip(_SPACE)
        if chunk:
            out.append(("text", chunk))
        out.append(("action", body.strip()))
        trim_next = right
        pos = end
    tail = text[pos:]
    if trim_next:
        tail = tail.lstrip(_SPACE)
    if "{{" in tail:
        raise _Unparsable("unclosed action")
    if tail:
        out.append(("text", tail))
    return out


def _parse(tokens: list[tuple[str, str]], i: int, nested: bool) -> tuple[list[object], int, str]:
    """Nodes up to a closing ``end``/``else`` (returned with the index after it)."""
    nodes: list[object] = []
    while i < len(tokens):
        kind, body = tokens[i]
        i += 1
        if kind == "text":
            nodes.append(body)
            continue
        if body.startswith("/*"):
            continue  # a comment prints nothing
        m = _KEYWORD.match(body)
        word = m.group(1) if m else ""
        if word in ("end", "else"):
            if not nested:
                raise _Unparsable(f"unexpected {word}")
            return nodes, i, body
        if word in ("if", "with"):
            node, i = _branch(tokens, i)
            nodes.append(node)
        elif word in ("range", "define", "block"):
            _, i = _branch(tokens, i)  # repeated, defined elsewhere: unknown output
            nodes.append(ANY if word != "define" else "")
        elif word in ("template", "break", "continue"):
            nodes.append(ANY)
        elif _ASSIGN.match(body):
            continue  # a variable declaration prints nothing
        elif _STRING.fullmatch(body):
            nodes.append(_unquote(body))
        else:
            nodes.append(ANY)  # a pipeline: $value, $labels.x, printf ...
    if nested:
        raise _Unparsable("missing end")
    return nodes, i, ""


def _branch(tokens: list[tuple[str, str]], i: int) -> tuple[_Branch, int]:
    """The body of if/with/range after its opening action, through the matching end."""
    choices: list[tuple[object, ...]] = []
    body, i, closer = _parse(tokens, i, nested=True)
    choices.append(tuple(body))
    while closer != "end":
        rest = closer[len("else") :].strip()
        if rest:  # else if / else with: a nested branch sharing our end
            inner, i = _branch(tokens, i)
            choices.append((inner,))
            return _Branch(tuple(choices)), i
        body, i, closer = _parse(tokens, i, nested=True)
        choices.append(tuple(body))
        if closer != "end":
            raise _Unparsable("else after else")
    if len(choices) == 1:
        choices.append(())  # no else: prints nothing when false
    return _Branch(tuple(choices)), i


def _unquote(literal: str) -> str | None:
    if literal.startswith("`"):
        return literal[1:-1]
    try:
        value = json.loads(literal)
    except ValueError:
        return ANY
    return value if isinstance(value, str) else ANY


def _merge(parts: tuple[str | None, ...]) -> Output:
    out: list[str | None] = []
    for part in parts:
        if part == "":
            continue
        if out and part is not ANY and out[-1] is not ANY:
            out[-1] = f"{out[-1]}{part}"
        elif out and part is ANY and out[-1] is ANY:
            continue
        else:
            out.append(part)
    return tuple(out)


def _expand(nodes: tuple[object, ...] | list[object]) -> set[Output]:
    alternatives: list[set[Output]] = []
    for node in nodes:
        if isinstance(node, _Branch):
            choice: set[Output] = set()
            for body in node.choices:
                choice |= _expand(body)
            alternatives.append(choice)
        else:
            alternatives.append({(node,)} if node != "" else {()})  # type: ignore[arg-type]
    size = 1
    for alt in alternatives:
        size *= len(alt)
        if size > MAX_OUTPUTS:
            return {(ANY,)}
    return {
        _merge(tuple(itertools.chain.from_iterable(c))) for c in itertools.product(*alternatives)
    }


def outputs(value: str) -> frozenset[Output]:
    """Every output ``value`` can expand to; a plain value is its only output.

    ``()`` stands for the empty string. An unparsable template expands to an
    error text in Prometheus, which is not known here: ``{(ANY,)}``.
    """
    if not is_template(value):
        return frozenset({_merge((value,))})
    try:
        nodes, _, _ = _parse(_tokens(value), 0, nested=False)
    except _Unparsable:
        return frozenset({(ANY,)})
    return frozenset(_expand(nodes))
