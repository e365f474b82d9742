"""Content-Security-Policy parsing and the BS-05 evaluation.

Pure functions only: the check gathers the header values and calls these.

Parsing follows the CSP Level 3 algorithm ("parse a serialized CSP") rather
than a regex so the result matches what a browser enforces:

* a header value is a comma-separated *list* of policies, each enforced
  independently (a load must pass all of them);
* directives are split on ``;``, names are ASCII-case-insensitive, values are
  split on ASCII whitespace only;
* when a directive repeats, the *first* occurrence wins and the rest are
  ignored -- we record each ignored duplicate as a finding, because a later
  "tightening" duplicate silently does nothing.

Evaluation resolves every fetch directive through its fallback chain
(script-src-elem -> script-src -> default-src ...); a fetch directive with
nothing to fall back on allows everything, which we model as ``("*",)``.
base-uri, frame-ancestors and form-action have no fallback at all, which is
why they must be set explicitly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pytest_spark.rules.findings import FAIL, WARN, Finding

__all__ = [
    "CspAnalysis",
    "Policy",
    "analyze",
    "broad_reason",
    "effective_directive",
    "effective_sources",
    "enforcement",
    "evaluate",
    "evaluate_all",
    "has_nonce_or_hash",
    "parse",
    "parse_policy",
    "parse_report_to",
    "parse_reporting_endpoints",
    "serialize",
    "serialize_reporting_endpoints",
]

Mode = Literal["enforcing", "report-only", "missing"]

# ASCII whitespace as the Infra standard defines it (not Python's unicode set).
_ASCII_WS = "\t\n\f\r "
_WS_RE = re.compile(r"[\t\n\f\r ]+")
_DIRECTIVE_NAME_RE = re.compile(r"^[a-z0-9-]+$")

# Fallback lists from CSP3 "Get the effective directive for request" /
# "directive fallback list". Anything not listed only stands for itself.
_FALLBACKS: dict[str, tuple[str, ...]] = {
    "script-src-elem": ("script-src-elem", "script-src", "default-src"),
    "script-src-attr": ("script-src-attr", "script-src", "default-src"),
    "script-src": ("script-src", "default-src"),
    "style-src-elem": ("style-src-elem", "style-src", "default-src"),
    "style-src-attr": ("style-src-attr", "style-src", "default-src"),
    "style-src": ("style-src", "default-src"),
    "worker-src": ("worker-src", "child-src", "script-src", "default-src"),
    "child-src": ("child-src", "default-src"),
    "frame-src": ("frame-src", "child-src", "default-src"),
    "connect-src": ("connect-src", "default-src"),
    "font-src": ("font-src", "default-src"),
    "img-src": ("img-src", "default-src"),
    "manifest-src": ("manifest-src", "default-src"),
    "media-src": ("media-src", "default-src"),
    "object-src": ("object-src", "default-src"),
    "default-src": ("default-src",),
}

# Directives that do not fall back to default-src and must be set (BS-05).
REQUIRED_STANDALONE = ("base-uri", "frame-ancestors", "form-action")

_HASH_PREFIXES = ("'sha256-", "'sha384-", "'sha512-")
_SCHEME_SOURCE_RE = re.compile(r"^[a-z][a-z0-9+.\-]*:$", re.IGNORECASE)
_HOST_SOURCE_RE = re.compile(
    r"^(?:(?P<scheme>[a-z][a-z0-9+.\-]*)://)?"
    r"(?P<host>\*|(?:\*\.)?[a-z0-9\-]+(?:\.[a-z0-9\-]+)*)"
    r"(?::(?P<port>[0-9]+|\*))?"
    r"(?P<path>/.*)?$",
    re.IGNORECASE,
)
# Scheme-only sources that are bound to the document's own origin; they are
# not "any host on the internet" the way http:/https: are.
_LOCAL_SCHEMES = frozenset({"blob:", "filesystem:", "mediastream:"})


def _show(value: str, limit: int = 200) -> str:
    """Quote a header value for a message without flooding the evidence."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


@dataclass(frozen=True, slots=True)
class Policy:
    """One parsed policy: directives in header order, first occurrence kept.

    Stored as tuples so a Policy is immutable and hashable (evidence can
    dedupe on it); ``directives`` gives the dict view.
    """

    items: tuple[tuple[str, tuple[str, ...]], ...]
    duplicates: tuple[tuple[str, tuple[str, ...]], ...] = ()
    invalid: tuple[str, ...] = ()
    raw: str = field(default="", compare=False)

    @property
    def directives(self) -> dict[str, tuple[str, ...]]:
        return dict(self.items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n == name.lower() for n, _ in self.items)

    def get(self, name: str) -> tuple[str, ...] | None:
        """The directive's source list as written, or None when absent."""
        wanted = name.lower()
        for n, values in self.items:
            if n == wanted:
                return values
        return None

    def serialize(self) -> str:
        """Canonical text form; ``parse_policy(p.serialize())`` gives ``p`` back."""
        return "; ".join(" ".join((n, *values)) for n, values in self.items)

    def parse_findings(self) -> list[Finding]:
        """Problems found while parsing (duplicates, unusable tokens)."""
        out = [
            Finding(
                "csp-duplicate-directive",
                f"CSP directive {name} is repeated; browsers keep the first one and "
                f"ignore the repeat {_show(' '.join((name, *values)))}",
                WARN,
            )
            for name, values in self.duplicates
        ]
        out.extend(
            Finding(
                "csp-invalid-directive",
                f"CSP directive {_show(token)} is not a valid directive and is ignored",
                WARN,
            )
            for token in self.invalid
        )
        return out


def parse_policy(text: str) -> Policy:
    """Parse one serialized policy (no commas) the way CSP3 does."""
    items: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    duplicates: list[tuple[str, tuple[str, ...]]] = []
    invalid: list[str] = []
    for raw_token in text.split(";"):
        token = raw_token.strip(_ASCII_WS)
        if not token:
            continue
        if not token.isascii():
            invalid.append(token)
            continue
        parts = [p for p in _WS_RE.split(token) if p]
        name = parts[0].lower()
        values = tuple(parts[1:])
        if not _DIRECTIVE_NAME_RE.match(name):
            invalid.append(token)
            continue
        if name in seen:
            duplicates.append((name, values))
            continue
        seen.add(name)
        items.append((name, values))
    return Policy(tuple(items), tuple(duplicates), tuple(invalid), text)


def parse(header: str | None) -> list[Policy]:
    """Parse a header value into its list of policies (comma separated).

    Policies with no directives are dropped, as CSP3 does; an absent or
    empty header therefore gives ``[]``.
    """
    if not header:
        return []
    policies = [parse_policy(chunk) for chunk in header.split(",")]
    return [p for p in policies if p.items]


def serialize(policies: Sequence[Policy]) -> str:
    """Header value for a list of policies (inverse of :func:`parse`)."""
    return ", ".join(p.serialize() for p in policies)


# ---------------------------------------------------------------------------
# source expressions


def has_nonce_or_hash(sources: Iterable[str]) -> bool:
    """True when a nonce- or hash-source is present.

    CSP2+ browsers then ignore 'unsafe-inline' in the same list, so it is no
    longer a hole (it stays only as a fallback for CSP1 browsers).
    """
    for src in sources:
        low = src.lower()
        if not (low.endswith("'") and len(low) > 2):
            continue
        if low.startswith("'nonce-") and len(low) > len("'nonce-'"):
            return True
        if any(low.startswith(p) and len(low) > len(p) + 1 for p in _HASH_PREFIXES):
            return True
    return False


def broad_reason(source: str) -> str | None:
    """Why a source expression lets scripts come from (almost) anywhere.

    Returns None for narrow sources. ``data:`` is not reported here: the
    evaluator gives it its own finding.
    """
    low = source.lower()
    if low == "*":
        return "wildcard *"
    if _SCHEME_SOURCE_RE.match(low):
        if low == "data:" or low in _LOCAL_SCHEMES:
            return None
        return f"scheme-only source {source} (any host)"
    match = _HOST_SOURCE_RE.match(low)
    if match is None:
        return None
    host = match.group("host")
    if host == "*":
        return f"wildcard host {source}"
    if host.startswith("*.") and "." not in host[2:]:
        return f"wildcard over a whole top-level domain {source}"
    return None


def effective_directive(policy: Policy, directive: str) -> str | None:
    """Which directive actually governs ``directive`` (None: nothing does)."""
    for name in _FALLBACKS.get(directive.lower(), (directive.lower(),)):
        if name in policy:
            return name
    return None


def effective_sources(policy: Policy, directive: str) -> tuple[str, ...]:
    """The source list a browser applies for ``directive``.

    Follows the CSP3 fallback chain; when no directive in the chain is set
    the load is unrestricted, represented as ``("*",)``.
    """
    name = effective_directive(policy, directive)
    if name is None:
        return ("*",)
    values = policy.get(name)
    return values if values is not None else ("*",)


def _label(directive: str, via: str | None) -> str:
    if via == directive:
        return directive
    if via is None:
        return f"{directive} (not set, and no default-src)"
    return f"{directive} (via {via})"


def _resolves_to_none(sources: Sequence[str]) -> bool:
    # An empty source list matches nothing, exactly like 'none'.
    lows = [s.lower() for s in sources]
    return not lows or lows == ["'none'"]


# ---------------------------------------------------------------------------
# reporting endpoints (RFC 8941 dictionary, as Reporting-Endpoints uses it)


class _SFError(ValueError):
    pass


_SF_KEY_FIRST = set("abcdefghijklmnopqrstuvwxyz*")
_SF_KEY_CHARS = _SF_KEY_FIRST | set("0123456789_-.")
_TCHARS = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_B64 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


class _SFParser:
    """Just enough of RFC 8941 to read a Dictionary faithfully.

    A structured field that fails to parse is ignored as a whole by browsers,
    so any syntax error raises and the caller treats the header as empty.
    """

    def __init__(self, text: str) -> None:
        self.s = text.strip(" ")
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def dictionary(self) -> dict[str, object]:
        out: dict[str, object] = {}
        while self.i < len(self.s):
            key = self.key()
            if self.peek() == "=":
                self.i += 1
                value = self.inner_list() if self.peek() == "(" else self.item()
            else:
                value = True
                self.params()
            out[key] = value  # a repeated key overwrites (RFC 8941 4.2.2)
            self.ows()
            if self.i >= len(self.s):
                return out
            if self.peek() != ",":
                raise _SFError("expected ','")
            self.i += 1
            self.ows()
            if self.i >= len(self.s):
                raise _SFError("trailing comma")
        return out

    def ows(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.i += 1

    def key(self) -> str:
        if self.peek() not in _SF_KEY_FIRST or not self.peek():
            raise _SFError("bad key")
        start = self.i
        while self.peek() and self.peek() in _SF_KEY_CHARS:
            self.i += 1
        return self.s[start : self.i]

    def item(self) -> object:
        value = self.bare_item()
        self.params()
        return value

    def inner_list(self) -> list[object]:
        self.i += 1  # "("
        items: list[object] = []
        while True:
            while self.peek() == " ":
                self.i += 1
            if self.peek() == ")":
                self.i += 1
                self.params()
                return items
            if not self.peek():
                raise _SFError("unterminated inner list")
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise _SFError("bad inner list")

    def params(self) -> None:
        while self.peek() == ";":
            self.i += 1
            while self.peek() == " ":
                self.i += 1
            self.key()
            if self.peek() == "=":
                self.i += 1
                self.bare_item()

    def bare_item(self) -> object:
        c = self.peek()
        if c == '"':
            return self.string()
        if c == "-" or (c.isdigit() and c.isascii()):
            return self.number()
        if c == "*" or (c.isascii() and c.isalpha()):
            return self.token()
        if c == ":":
            return self.byte_seq()
        if c == "?":
            return self.boolean()
        raise _SFError("bad item")

    def string(self) -> str:
        self.i += 1
        out: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            self.i += 1
            if c == "\\":
                nxt = self.peek()
                if nxt not in ('"', "\\") or not nxt:
                    raise _SFError("bad escape")
                out.append(nxt)
                self.i += 1
            elif c == '"':
                return "".join(out)
            elif not (" " <= c <= "~"):
                raise _SFError("bad string char")
            else:
                out.append(c)
        raise _SFError("unterminated string")

    def token(self) -> str:
        start = self.i
        self.i += 1
        while self.peek() and (self.peek() in _TCHARS or self.peek() in ":/"):
            self.i += 1
        return self.s[start : self.i]

    def number(self) -> float | int:
        start = self.i
        if self.peek() == "-":
            self.i += 1
        if not (self.peek().isascii() and self.peek().isdigit()):
            raise _SFError("bad number")
        while self.peek() and (
            (self.peek().isascii() and self.peek().isdigit()) or self.peek() == "."
        ):
            self.i += 1
        text = self.s[start : self.i]
        digits = text.lstrip("-")
        if "." in digits:
            whole, _, frac = digits.partition(".")
            if "." in frac or not frac or len(whole) > 12 or len(frac) > 3:
                raise _SFError("bad decimal")
            return float(text)
        if len(digits) > 15:
            raise _SFError("integer too long")
        return int(text)

    def byte_seq(self) -> bytes:
        self.i += 1
        start = self.i
        while self.peek() and self.peek() != ":":
            if self.peek() not in _B64:
                raise _SFError("bad base64")
            self.i += 1
        if self.peek() != ":":
            raise _SFError("unterminated byte sequence")
        self.i += 1
        return self.s[start : self.i - 1].encode("ascii")

    def boolean(self) -> bool:
        self.i += 1
        c = self.peek()
        if c not in ("0", "1") or not c:
            raise _SFError("bad boolean")
        self.i += 1
        return c == "1"


def parse_reporting_endpoints(value: str | None) -> dict[str, str]:
    """Parse ``Reporting-Endpoints`` (``name="url", ...``) into name -> URL.

    Members whose value is not a string are skipped and a header that is not
    a valid structured-field dictionary yields ``{}``, as in the Reporting
    API: a half-understood header must not count as configured reporting.
    """
    if not value:
        return {}
    try:
        parsed = _SFParser(value).dictionary()
    except _SFError:
        return {}
    return {k: v for k, v in parsed.items() if isinstance(v, str)}


def serialize_reporting_endpoints(endpoints: Mapping[str, str]) -> str:
    """Structured-field text for ``name -> url`` (inverse of the parser)."""
    members = []
    for name, url in endpoints.items():
        if not name or name[0] not in _SF_KEY_FIRST or any(c not in _SF_KEY_CHARS for c in name):
            raise ValueError(f"invalid endpoint name {name!r}")
        if any(not (" " <= c <= "~") for c in url):
            raise ValueError(f"endpoint URL {url!r} has characters a sf-string cannot carry")
        escaped = url.replace("\\", "\\\\").replace('"', '\\"')
        members.append(f'{name}="{escaped}"')
    return ", ".join(members)


def parse_report_to(value: str | None) -> dict[str, list[str]]:
    """Parse the legacy ``Report-To`` header (JSON objects, comma-joined).

    Returns group name -> endpoint URLs; ``{}`` when it is not valid JSON.
    """
    if not value:
        return {}
    try:
        data = json.loads(f"[{value}]")
    except ValueError:
        return {}
    groups: dict[str, list[str]] = {}
    for entry in data:
        if not isinstance(entry, dict):
            continue
        group = entry.get("group", "default")
        endpoints = entry.get("endpoints")
        if not isinstance(group, str) or not isinstance(endpoints, list):
            continue
        urls = [
            e["url"] for e in endpoints if isinstance(e, dict) and isinstance(e.get("url"), str)
        ]
        if urls:
            groups.setdefault(group, []).extend(urls)
    return groups


# ---------------------------------------------------------------------------
# evaluation (BS-05)


def _script_findings(policy: Policy, directive: str) -> list[Finding]:
    via = effective_directive(policy, directive)
    sources = effective_sources(policy, directive)
    label = _label(directive, via)
    lows = [s.lower() for s in sources]
    out: list[Finding] = []
    if "'unsafe-inline'" in lows and not has_nonce_or_hash(sources):
        out.append(
            Finding(
                f"{directive}-unsafe-inline",
                f"{label} allows 'unsafe-inline' (no nonce or hash)",
            )
        )
    if "'unsafe-eval'" in lows:
        out.append(Finding(f"{directive}-unsafe-eval", f"{label} allows 'unsafe-eval'"))
    if "data:" in lows:
        out.append(Finding(f"{directive}-data", f"{label} allows data: (script from data: URLs)"))
    broad = [s for s in sources if broad_reason(s)]
    if broad:
        out.append(
            Finding(
                f"{directive}-broad-source",
                f"{label} allows broad source {' '.join(broad)} "
                f"({'; '.join(str(broad_reason(s)) for s in broad)})",
            )
        )
    return out


def evaluate(
    policy: Policy,
    reporting_endpoints: str | None = None,
    report_to: str | None = None,
) -> list[Finding]:
    """BS-05 rules for one enforced policy.

    ``reporting_endpoints`` / ``report_to`` are the raw Reporting-Endpoints /
    legacy Report-To header values of the same response: ``report-to csp``
    only works when one of them defines an endpoint named ``csp``.
    """
    out: list[Finding] = []
    out.extend(_script_findings(policy, "script-src"))
    # script-src-elem / -attr override script-src for their loads when set.
    for extra in ("script-src-elem", "script-src-attr"):
        if extra in policy:
            out.extend(_script_findings(policy, extra))

    obj_via = effective_directive(policy, "object-src")
    obj = effective_sources(policy, "object-src")
    if not _resolves_to_none(obj):
        out.append(
            Finding(
                "object-src-not-none",
                f"{_label('object-src', obj_via)} resolves to {' '.join(obj)} (expected 'none')",
            )
        )

    for name in REQUIRED_STANDALONE:
        if name not in policy:
            out.append(
                Finding(
                    f"{name}-missing", f"{name} is not set (it does not fall back to default-src)"
                )
            )

    out.extend(_reporting_findings(policy, reporting_endpoints, report_to))
    return out


def _reporting_findings(
    policy: Policy, reporting_endpoints: str | None, report_to: str | None
) -> list[Finding]:
    uri = policy.get("report-uri")
    group_values = policy.get("report-to")
    out: list[Finding] = []
    if uri is None and group_values is None:
        return [
            Finding(
                "csp-reporting-missing",
                "neither report-uri nor report-to is set: CSP violations are not reported",
            )
        ]
    if uri is not None and not uri:
        out.append(Finding("csp-report-uri-empty", "report-uri is set without any URL"))
    if group_values is not None:
        if not group_values:
            out.append(Finding("csp-report-to-empty", "report-to is set without an endpoint name"))
        else:
            group = group_values[0]
            endpoints = parse_reporting_endpoints(reporting_endpoints)
            legacy = parse_report_to(report_to)
            if group not in endpoints and group not in legacy:
                if reporting_endpoints is None and report_to is None:
                    where = "no Reporting-Endpoints or Report-To header was received"
                else:
                    known = sorted(set(endpoints) | set(legacy))
                    where = (
                        f"Reporting-Endpoints {_show(reporting_endpoints or '')} "
                        f"defines {known or 'no valid endpoint'}"
                    )
                # When report-to is present, report-uri is ignored by browsers
                # that support report-to, so this is a real loss of reports.
                out.append(
                    Finding(
                        "csp-report-to-unresolved",
                        f"report-to names endpoint {group!r} but {where}",
                    )
                )
    return out


def evaluate_all(
    policies: Sequence[Policy],
    reporting_endpoints: str | None = None,
    report_to: str | None = None,
) -> list[Finding]:
    """Evaluate a policy list as the browser enforces it.

    Every policy must allow a load, so a weakness is real only when *every*
    policy has it: a finding is kept only if its code is present for all
    policies (reported with the first policy's message). Parse findings of
    any policy are always kept.
    """
    if not policies:
        return [Finding("csp-missing", "no Content-Security-Policy is enforced")]
    per_policy = [evaluate(p, reporting_endpoints, report_to) for p in policies]
    common = set.intersection(*({f.code for f in fs} for fs in per_policy))
    out: list[Finding] = []
    for p in policies:
        out.extend(p.parse_findings())
    out.extend(f for f in per_policy[0] if f.code in common)
    return out


def enforcement(csp: str | None, csp_report_only: str | None = None) -> Mode:
    """Which kind of CSP the response actually has.

    A Report-Only policy blocks nothing, so it never counts as "enforcing";
    an enforcing header with no parsable directive is as good as missing.
    """
    if parse(csp):
        return "enforcing"
    if parse(csp_report_only):
        return "report-only"
    return "missing"


@dataclass(frozen=True, slots=True)
class CspAnalysis:
    """Everything BS-05 records for one response."""

    mode: Mode
    policies: tuple[Policy, ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not any(f.severity == FAIL for f in self.findings)


def analyze(
    csp: str | None,
    csp_report_only: str | None = None,
    reporting_endpoints: str | None = None,
    report_to: str | None = None,
) -> CspAnalysis:
    """One-call BS-05 analysis of a response's CSP-related header values."""
    mode = enforcement(csp, csp_report_only)
    if mode == "enforcing":
        policies = tuple(parse(csp))
        return CspAnalysis(
            mode, policies, tuple(evaluate_all(policies, reporting_endpoints, report_to))
        )
    if mode == "report-only":
        finding = Finding(
            "csp-report-only",
            "only Content-Security-Policy-Report-Only is set "
            f"({_show(csp_report_only or '')}); nothing is enforced",
        )
        return CspAnalysis(mode, tuple(parse(csp_report_only)), (finding,))
    if csp is not None:
        finding = Finding(
            "csp-missing",
            f"Content-Security-Policy header has no usable directive: {_show(csp)}",
        )
    else:
        finding = Finding("csp-missing", "no Content-Security-Policy header")
    return CspAnalysis(mode, (), (finding,))
