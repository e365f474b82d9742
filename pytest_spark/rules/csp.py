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

Source expressions are recognised by the CSP3 ``source-expression`` grammar
(:func:`classify`), not by prefix: ``'sha256-abc$'`` is no hash-source and
does nothing, so it cannot cancel 'unsafe-inline'.

Evaluation is per *kind of load* (:data:`LOADS`: inline script element,
event-handler attribute, eval, data: script, script from any host, plugin,
<base>, form target, framing), each judged against each enforced policy and
allowed only if every policy allows it (CSP3 "Enforce multiple policies").
Each load resolves its directive through the CSP3 fallback chain
(script-src-elem -> script-src -> default-src ...; eval: script-src ->
default-src); nothing to fall back on means unrestricted. 'strict-dynamic'
makes host and scheme sources, 'self' and 'unsafe-inline' ignored for
scripts, a valid nonce or hash makes 'unsafe-inline' ignored (CSP3 "Does a
source list allow all inline behavior for type?", section 8.2). base-uri,
frame-ancestors and form-action have no fallback, so they must be set, and
their values are judged: ``frame-ancestors *`` (or ``https:``) protects
nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import http_sf

from pytest_spark.rules.findings import FAIL, WARN, Finding

__all__ = [
    "KEYWORDS",
    "LOADS",
    "CspAnalysis",
    "Policy",
    "allowed_by_all",
    "allows",
    "analyze",
    "broad_reason",
    "classify",
    "effective_directive",
    "effective_sources",
    "enforcement",
    "evaluate",
    "evaluate_all",
    "has_keyword",
    "has_nonce_or_hash",
    "load_findings",
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

# CSP3 "source-expression" grammar (https://www.w3.org/TR/CSP3/#grammardef-source-expression).
# base64-value = 1*( ALPHA / DIGIT / "+" / "/" / "-" / "_" )*2( "=" )
_B64_VALUE = r"[A-Za-z0-9+/\-_]+={0,2}"
# Keywords, the 'nonce-' prefix and the hash algorithm are ASCII case-insensitive; the
# base64 value itself is case-sensitive but its character class has both cases anyway.
# re.ASCII: without it IGNORECASE lets [A-Za-z] match U+0130, U+212A (Kelvin) and U+017F.
_NONCE_SOURCE_RE = re.compile(rf"'nonce-{_B64_VALUE}'", re.IGNORECASE | re.ASCII)
_HASH_SOURCE_RE = re.compile(rf"'(?:sha256|sha384|sha512)-{_B64_VALUE}'", re.IGNORECASE | re.ASCII)
KEYWORDS = frozenset(
    {
        "'self'",
        "'unsafe-inline'",
        "'unsafe-eval'",
        "'strict-dynamic'",
        "'unsafe-hashes'",
        "'report-sample'",
        "'unsafe-allow-redirects'",
        "'wasm-unsafe-eval'",
        "'trusted-types-eval'",
        "'report-sha256'",
        "'report-sha384'",
        "'report-sha512'",
        "'unsafe-webtransport-hashes'",
    }
)
_SCHEME_PART = r"[A-Za-z][A-Za-z0-9+.\-]*"
_SCHEME_SOURCE_RE = re.compile(rf"{_SCHEME_PART}:")
# host-source = [ scheme-part "://" ] host-part [ ":" port-part ] [ path-part ]
# host-part = "*" / [ "*." ] 1*host-char *( "." 1*host-char ) [ "." ];  port-part = 1*DIGIT / "*"
# path-part = path-absolute (RFC 3986), without ";" and "," (they end directives / policies).
_PCHAR = r"[A-Za-z0-9\-._~!$&'()*+=:@%]"
_HOST_SOURCE_RE = re.compile(
    rf"(?:(?P<scheme>{_SCHEME_PART})://)?"
    r"(?P<host>\*|(?:\*\.)?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.?)"
    r"(?::(?P<port>[0-9]+|\*))?"
    rf"(?P<path>/(?:{_PCHAR}+(?:/{_PCHAR}*)*)?)?"
)
SourceKind = Literal["none", "keyword", "nonce", "hash", "scheme", "host", "invalid"]
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
        out.extend(
            Finding(
                "csp-invalid-source",
                f"CSP {name} source {_show(value)} is not a valid source expression "
                "(CSP3 grammar): browsers ignore it",
                WARN,
            )
            for name, values in self.items
            if name.endswith("-src") or name in REQUIRED_STANDALONE
            for value in values
            if classify(value) == "invalid"
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


def classify(source: str) -> SourceKind:
    """What a source expression is by the CSP3 grammar ("invalid": matches nothing).

    Recognition is by the whole grammar, not a prefix: ``'sha256-abc$'`` is no
    hash-source and ``'nonce-'`` no nonce-source, so neither cancels
    'unsafe-inline' (a browser drops them as unparsable).
    """
    low = source.lower() if source.isascii() else source  # ASCII case-insensitive only
    if low == "'none'":
        return "none"
    if low in KEYWORDS:
        return "keyword"
    if _NONCE_SOURCE_RE.fullmatch(source):
        return "nonce"
    if _HASH_SOURCE_RE.fullmatch(source):
        return "hash"
    if _SCHEME_SOURCE_RE.fullmatch(source):
        return "scheme"
    if _HOST_SOURCE_RE.fullmatch(source):
        return "host"
    return "invalid"


def has_nonce_or_hash(sources: Iterable[str]) -> bool:
    """True when a *valid* nonce- or hash-source is present.

    CSP2+ browsers then ignore 'unsafe-inline' in the same list (CSP3 "Does a
    source list allow all inline behavior for type?").
    """
    return any(classify(src) in ("nonce", "hash") for src in sources)


def has_keyword(sources: Iterable[str], keyword: str) -> bool:
    """Keyword present (ASCII case-insensitive, as CSP3 matches keywords)."""
    return any(src.lower() == keyword for src in sources)


def broad_reason(source: str) -> str | None:
    """Why a source expression lets loads come from (almost) any host.

    Returns None for narrow sources, for keywords and for anything the CSP3
    grammar does not accept (an invalid expression matches nothing). ``data:``
    is not reported here: the evaluator gives it its own finding.
    """
    kind = classify(source)
    low = source.lower()
    if kind == "scheme":
        if low == "data:" or low in _LOCAL_SCHEMES:
            return None
        return f"scheme-only source {source} (any host)"
    if kind != "host":
        return None
    match = _HOST_SOURCE_RE.fullmatch(source)
    host = match.group("host").lower() if match else ""
    if host == "*":
        return "wildcard *" if low == "*" else f"wildcard host {source}"
    if host.startswith("*.") and "." not in host[2:].rstrip("."):
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


# ---------------------------------------------------------------------------
# reporting endpoints (RFC 9651 structured-field dictionary, parsed by http-sf)


def parse_reporting_endpoints(value: str | None) -> dict[str, str]:
    """Parse ``Reporting-Endpoints`` (``name="url", ...``) into name -> URL.

    Members whose value is not a string are skipped and a header that is not
    a valid structured-field dictionary yields ``{}``, as in the Reporting
    API: a half-understood header must not count as configured reporting.
    """
    if not value:
        return {}
    try:
        parsed = http_sf.parse(value.encode("latin-1"), tltype="dictionary")
    except (http_sf.StructuredFieldError, UnicodeEncodeError, ValueError):
        return {}
    # A member's value is (bare item, parameters); only sf-strings are URLs (tokens are not).
    return {k: v[0] for k, v in parsed.items() if isinstance(v, tuple) and isinstance(v[0], str)}


def serialize_reporting_endpoints(endpoints: Mapping[str, str]) -> str:
    """Structured-field text for ``name -> url`` (inverse of the parser)."""
    if not endpoints:
        return ""
    try:
        return str(http_sf.ser(dict(endpoints)))
    except ValueError as exc:
        raise ValueError(
            f"cannot serialize Reporting-Endpoints {dict(endpoints)!r}: {exc}"
        ) from None


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


# What each kind of load asks, per CSP3. (directive the load is checked against, what it
# is, what a policy that allows it lets an attacker do). Fetch directives fall back along
# _FALLBACKS; base-uri, form-action and frame-ancestors have no fallback at all.
LOADS: dict[str, tuple[str, str]] = {
    "inline-script": ("script-src-elem", "inline <script> elements run"),
    "script-attr": ("script-src-attr", "inline event handlers (script attributes) run"),
    "eval": ("script-src", "eval() and new Function() run"),
    "data-script": ("script-src-elem", "scripts load from data: URLs"),
    "remote-script": ("script-src-elem", "scripts load from any host"),
    "inline-style": ("style-src-elem", "inline <style> elements apply"),
    "remote-style": ("style-src-elem", "stylesheets load from any host"),
    "object": ("object-src", "plugins (<object>, <embed>) load"),
    "remote-object": ("object-src", "plugins load from any host"),
    "base-uri": ("base-uri", "<base> can point relative URLs at any host"),
    "form-action": ("form-action", "forms can submit to any host"),
    "framing": ("frame-ancestors", "any site can frame the page"),
}
_NO_FALLBACK = frozenset(REQUIRED_STANDALONE)


def _allows_all_inline(sources: Sequence[str], script: bool) -> bool:
    """CSP3 "Does a source list allow all inline behavior for type?".

    'unsafe-inline' counts only without a (valid) nonce- or hash-source and,
    for scripts, without 'strict-dynamic'.
    """
    if has_nonce_or_hash(sources) or (script and has_keyword(sources, "'strict-dynamic'")):
        return False
    return has_keyword(sources, "'unsafe-inline'")


def _governing(policy: Policy, directive: str) -> tuple[str | None, tuple[str, ...] | None]:
    """(directive name, its source list) that governs ``directive``; (None, None) if none."""
    if directive in _NO_FALLBACK:
        values = policy.get(directive)
        return (directive, values) if values is not None else (None, None)
    if directive == "script-src":
        # Eval is checked against script-src, else default-src (CSP3
        # "EnsureCSPDoesNotBlockStringCompilation"), never script-src-elem.
        chain: tuple[str, ...] = ("script-src", "default-src")
    else:
        chain = _FALLBACKS.get(directive, (directive,))
    for name in chain:
        values = policy.get(name)
        if values is not None:
            return name, values
    return None, None


def _who(load: str, via: str) -> str:
    """Name the directive as a reader looks for it: script-src (via default-src)."""
    family = LOADS[load][0]
    head = family.removesuffix("-elem") if via == "default-src" else via
    return head if via == head else f"{head} (via {via})"


def allows(policy: Policy, load: str) -> str | None:
    """Why ``policy`` allows the dangerous form of ``load`` (see :data:`LOADS`), or None.

    The answer follows CSP3: the governing directive after fallback; a load
    with no governing directive is unrestricted; 'strict-dynamic' makes host
    and scheme sources, 'self' and 'unsafe-inline' ignored for scripts (CSP3
    section 8.2); a nonce or hash makes 'unsafe-inline' ignored.
    """
    directive, what = LOADS[load]
    via, sources = _governing(policy, directive)
    if via is None or sources is None:
        if directive in _NO_FALLBACK:
            return f"{directive} is not set (it does not fall back to default-src)"
        chain = ", ".join(_FALLBACKS.get(directive, (directive,)))
        if load == "eval":
            chain = "script-src, default-src"
        return (
            f"none of {chain} is set (not set, and no default-src): nothing restricts it, so {what}"
        )
    who = _who(load, via)
    strict_dynamic = has_keyword(sources, "'strict-dynamic'")
    if load in ("inline-script", "script-attr", "inline-style"):
        if _allows_all_inline(sources, script=load != "inline-style"):
            why = "no valid nonce or hash" + (
                ", no 'strict-dynamic'" if load != "inline-style" else ""
            )
            return f"{who} allows 'unsafe-inline' ({why}): {what}"
        return None
    if load == "eval":
        return (
            f"{who} allows 'unsafe-eval': {what}" if has_keyword(sources, "'unsafe-eval'") else None
        )
    if load == "data-script":
        if strict_dynamic or not has_keyword(sources, "data:"):
            return None
        return f"{who} allows data: ({what})"
    if load == "object":
        # Only URL-matching expressions can let a plugin load; 'none', an empty list,
        # keywords such as 'unsafe-inline' and unparsable tokens match no URL.
        if not any(classify(s) in ("host", "scheme") or s.lower() == "'self'" for s in sources):
            return None
        return f"{who} resolves to {' '.join(sources)} (expected 'none')"
    if load == "remote-script" and strict_dynamic:
        return None
    broad = [s for s in sources if broad_reason(s)]
    if not broad:
        return None
    reasons = "; ".join(str(broad_reason(s)) for s in broad)
    return f"{who} allows broad source {' '.join(broad)} ({reasons}): {what}"


def allowed_by_all(policies: Sequence[Policy], load: str) -> list[str] | None:
    """Each policy's reason when *every* enforced policy allows ``load``, else None.

    CSP3 "Enforce multiple policies": a load happens only if each policy
    allows it, so one policy that blocks it is enough.
    """
    reasons = [allows(p, load) for p in policies]
    if not policies or any(r is None for r in reasons):
        return None
    return [r for r in reasons if r is not None]


def _message(reasons: Sequence[str]) -> str:
    if len(reasons) == 1:
        return reasons[0]
    parts = "; ".join(f"policy {i}: {r}" for i, r in enumerate(reasons, 1))
    return f"all {len(reasons)} enforced policies allow this ({parts})"


# Finding codes per load; BS-05 fails on these (inline style is PF-05's business only).
_CODES = {
    "inline-script": "script-src-unsafe-inline",
    "script-attr": "script-src-attr-unsafe-inline",
    "eval": "script-src-unsafe-eval",
    "data-script": "script-src-data",
    "remote-script": "script-src-broad-source",
    "object": "object-src-not-none",
}


def load_findings(policies: Sequence[Policy]) -> list[Finding]:
    """BS-05 findings for every kind of load that every enforced policy allows."""
    out: list[Finding] = []
    inline = allowed_by_all(policies, "inline-script")
    attr = allowed_by_all(policies, "script-attr")
    if inline is not None and attr is not None and _same_directive(policies):
        # One directive lets both kinds run: one finding naming both.
        both = "inline <script> elements and inline event handlers run"
        merged = [r.replace(LOADS["inline-script"][1], both) for r in inline]
        out.append(Finding(_CODES["inline-script"], _message(merged)))
        attr = None
    elif inline is not None:
        out.append(Finding(_CODES["inline-script"], _message(inline)))
    if attr is not None:
        out.append(Finding(_CODES["script-attr"], _message(attr)))
    for load in ("eval", "data-script", "remote-script", "object"):
        reasons = allowed_by_all(policies, load)
        if reasons is not None:
            out.append(Finding(_CODES[load], _message(reasons)))
    for name, load in (
        ("base-uri", "base-uri"),
        ("frame-ancestors", "framing"),
        ("form-action", "form-action"),
    ):
        reasons = allowed_by_all(policies, load)
        if reasons is None:
            continue
        unset = all(name not in p for p in policies)
        out.append(Finding(f"{name}-missing" if unset else f"{name}-broad", _message(reasons)))
    return out


def _same_directive(policies: Sequence[Policy]) -> bool:
    """True when, in every policy, inline elements and attributes fall to one directive."""
    return all(
        _governing(p, "script-src-elem")[0] == _governing(p, "script-src-attr")[0] for p in policies
    )


def evaluate(
    policy: Policy,
    reporting_endpoints: str | None = None,
    report_to: str | None = None,
) -> list[Finding]:
    """BS-05 rules for one enforced policy (see :func:`evaluate_all` for a list)."""
    return evaluate_all([policy], reporting_endpoints, report_to)


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

    Every kind of load is judged against each policy and is a finding only
    if every policy allows it (CSP3 "Enforce multiple policies"). Reporting
    is judged per policy: a finding when no policy reports. Parse findings
    of any policy are always kept.
    """
    if not policies:
        return [Finding("csp-missing", "no Content-Security-Policy is enforced")]
    out: list[Finding] = []
    for p in policies:
        out.extend(p.parse_findings())
    out.extend(load_findings(policies))
    per_policy = [_reporting_findings(p, reporting_endpoints, report_to) for p in policies]
    if all(per_policy):
        out.extend(per_policy[0])
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
