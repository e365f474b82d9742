"""PF-05 security-header scoring (Mozilla HTTP Observatory style) and RT-05 COEP rules.

Scoring, as the Observatory does it: start at 100, subtract penalties, and
only if the result is still >= 90 add bonuses; the floor is 0; the grade
comes from the Observatory grading chart. Modifier values follow the
Observatory's published tables where it has a test, with these deliberate
choices (documented because a reviewer will compare):

* HSTS: missing or unparsable -20; max-age below the PF-05 minimum -10
  (Observatory's "less than six months" tier). PF-05's minimum is 15552000
  (180 days), slightly below the Observatory's 15768000.
* X-Frame-Options: ``ALLOW-FROM`` scores -20 like a missing header (the
  Observatory gives 0) because browsers ignore it: it protects nothing. An
  enforced CSP ``frame-ancestors`` satisfies the test and earns +5.
* Referrer-Policy: ``no-referrer-when-downgrade`` is treated as unsafe (-5)
  along with ``unsafe-url``, ``origin``, ``origin-when-cross-origin``.
  Missing costs 0 points (as in the Observatory) but is still a PF-05
  failure, because the baseline requires one of the private values.
* COOP has no Observatory test; missing or invalid costs -5 here, and
  ``unsafe-none`` -5 as a warning.
* CORP missing costs 0 points (the Observatory even gives +5; we give no
  bonus) but is a PF-05 failure; ``cross-origin`` or invalid -20 as in the
  Observatory.
* CSP: missing / unusable / report-only -25; an unsafe script-src or
  object-src -20; only 'unsafe-eval' -10; bonus +5 without unsafe sources,
  +10 when additionally default-src is 'none'. "Unsafe" is judged per kind
  of load against every enforced policy, as a browser does
  (:func:`pytest_spark.rules.csp.allowed_by_all`): a valid nonce/hash or
  'strict-dynamic' makes 'unsafe-inline' ignored, 'strict-dynamic' makes
  host and scheme sources ignored. CSP's other BS-05 rules (base-uri,
  reporting ...) are BS-05's business and do not change this score.
* Framing (HTML "check a navigation response's adherence to
  X-Frame-Options"): when any enforced policy has frame-ancestors, browsers
  ignore X-Frame-Options, so the framing credit (+5) goes only to a
  frame-ancestors that restricts something; ``frame-ancestors *`` (or
  ``https:``...) protects nothing and costs -20 like a missing XFO.

Repeated header fields follow each header's own rule, never "join and
parse as one": X-Content-Type-Options is the first value of the combined
list (Fetch "determine nosniff"); HSTS is the first field only (RFC 6797
8.1); each CSP field and each comma-separated policy is its own policy;
X-Frame-Options is the set of its values (HTML: DENY twice is DENY,
conflicting values block framing); COOP and COEP are structured-field items
(RFC 9651), so two fields make an unparsable list that browsers ignore;
CORP must be exactly one of its three values (Fetch).

The scorer's findings carry ``penalty`` (the modifier applied, possibly 0)
and ``severity``: "fail" for PF-05 baseline violations, "warn" for findings
that only lower the score. PF-05 passes when the grade reaches the minimum
AND no "fail" finding remains (:meth:`HeaderScore.blocking`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import http_sf

from pytest_spark.rules import csp as csp_rules
from pytest_spark.rules import hsts as hsts_rules
from pytest_spark.rules.findings import FAIL, WARN, Finding

__all__ = [
    "GRADES",
    "HeaderScore",
    "coep_findings",
    "corp_value",
    "embedder_policy",
    "fields",
    "get_decode_split",
    "grade_at_least",
    "grade_for",
    "header_value",
    "score",
    "subresource_findings",
]

# (minimum score, grade), best first: the Observatory grading chart.
GRADES: tuple[tuple[int, str], ...] = (
    (100, "A+"),
    (90, "A"),
    (85, "A-"),
    (80, "B+"),
    (70, "B"),
    (65, "B-"),
    (60, "C+"),
    (50, "C"),
    (45, "C-"),
    (40, "D+"),
    (30, "D"),
    (25, "D-"),
    (0, "F"),
)
_ORDER = [g for _, g in GRADES]
BONUS_THRESHOLD = 90

REFERRER_PRIVATE = frozenset(
    {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
)
REFERRER_UNSAFE = frozenset(
    {"unsafe-url", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin"}
)
_REFERRER_ALL = REFERRER_PRIVATE | REFERRER_UNSAFE
_COOP_VALUES = frozenset(
    {"same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"}
)
_CORP_VALUES = frozenset({"same-origin", "same-site", "cross-origin"})


def _show(value: str, limit: int = 200) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def fields(headers: Headers) -> list[tuple[str, str]]:
    """Every header field as received, ``(lower-cased name, value)`` in order.

    Takes a list of ``(name, value)`` pairs (duplicates kept, what the probes
    record), an ``httpx.Headers`` (its multi_items) or a plain mapping.
    """
    multi = getattr(headers, "multi_items", None)
    if callable(multi):
        pairs: Iterable[tuple[str, str]] = multi()
    elif isinstance(headers, Mapping):
        pairs = headers.items()
    else:
        pairs = headers
    return [(str(k).lower(), str(v)) for k, v in pairs]


def _values(headers: Headers, name: str) -> list[str]:
    wanted = name.lower()
    return [v for k, v in fields(headers) if k == wanted]


def header_value(headers: Headers, name: str) -> str | None:
    """Fetch "get": every field of ``name`` (case-insensitive) joined with ", ", None if absent."""
    values = _values(headers, name)
    return ", ".join(v.strip(" \t") for v in values) if values else None


def get_decode_split(headers: Headers, name: str) -> list[str] | None:
    """Fetch "get, decode, and split": the combined value split on commas outside quotes.

    Each value is stripped of HTTP tab/space; None when the header is absent.
    """
    value = header_value(headers, name)
    if value is None:
        return None
    out: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(value):
        c = value[i]
        if c == '"':
            quoted = not quoted
        elif c == "\\" and quoted and i + 1 < len(value):
            current.append(c)
            i += 1
            c = value[i]
        elif c == "," and not quoted:
            out.append("".join(current).strip(" \t"))
            current = []
            i += 1
            continue
        current.append(c)
        i += 1
    out.append("".join(current).strip(" \t"))
    return out


def _sf_token(headers: Headers, name: str) -> tuple[str | None, str | None]:
    """(token, None) for a structured-field Item header (COOP, COEP), or (None, why not).

    The fields are combined before parsing (RFC 9651 4.2), so a repeated field
    is a list, not an Item: browsers then ignore the header.
    """
    value = header_value(headers, name)
    if value is None:
        return None, "missing"
    try:
        item = http_sf.parse(value.encode("latin-1"), tltype="item")
    except (http_sf.StructuredFieldError, UnicodeEncodeError, ValueError):
        repeated = len(_values(headers, name)) > 1
        why = "repeated fields combine into a list" if repeated else "not a structured-field item"
        return None, f"{_show(value)} is {why}, which browsers ignore"
    bare = item[0] if isinstance(item, tuple) else item
    if isinstance(bare, http_sf.Token):
        return str(bare), None
    return None, f"{_show(value)} is not a token"


def grade_for(points: int) -> str:
    """Observatory letter grade for a score."""
    for minimum, grade in GRADES:
        if points >= minimum:
            return grade
    return "F"


def grade_at_least(grade: str, minimum: str) -> bool:
    """True when ``grade`` is as good as ``minimum`` (``"A"`` >= ``"A-"``)."""
    try:
        return _ORDER.index(grade.strip().upper()) <= _ORDER.index(minimum.strip().upper())
    except ValueError:
        raise ValueError(
            f"unknown grade {grade!r} or {minimum!r}; expected one of {_ORDER}"
        ) from None


@dataclass(frozen=True, slots=True)
class HeaderScore:
    """The Observatory-style result for one response."""

    score: int
    grade: str
    penalties: tuple[Finding, ...]
    bonuses: tuple[Finding, ...] = ()

    def blocking(self, minimum: str = "A-") -> list[Finding]:
        """What makes PF-05 fail: baseline violations plus a too-low grade."""
        out = [f for f in self.penalties if f.severity == FAIL]
        if not grade_at_least(self.grade, minimum):
            costs = (
                ", ".join(f"{f.code} {f.penalty}" for f in self.penalties if f.penalty) or "none"
            )
            out.append(
                Finding(
                    "grade-below-minimum",
                    f"header grade {self.grade} (score {self.score}) is below {minimum}; "
                    f"penalties: {costs}",
                )
            )
        return out

    def passes(self, minimum: str = "A-") -> bool:
        return not self.blocking(minimum)


def _hsts(headers: Headers, min_age: int) -> list[Finding]:
    values = _values(headers, "strict-transport-security")
    if not values:
        return [Finding("hsts-missing", "Strict-Transport-Security header is missing", FAIL, -20)]
    # RFC 6797 8.1: a UA processes only the first STS header field.
    value = values[0]
    extra = []
    if len(values) > 1:
        extra.append(
            Finding(
                "hsts-multiple-headers",
                f"{len(values)} Strict-Transport-Security fields; browsers use only the first "
                f"{_show(value)} (RFC 6797 8.1)",
                WARN,
                0,
            )
        )
    return extra + _hsts_value(value, min_age)


def _hsts_value(value: str, min_age: int) -> list[Finding]:
    parsed = hsts_rules.parse(value)
    if not parsed.valid:
        why = "; ".join(i.message for i in parsed.issues if i.severity == FAIL)
        return [
            Finding(
                "hsts-invalid",
                f"Strict-Transport-Security {_show(value)} is invalid: {why}",
                FAIL,
                -20,
            )
        ]
    if parsed.max_age is not None and parsed.max_age < min_age:
        return [
            Finding(
                "hsts-max-age-too-low",
                f"Strict-Transport-Security max-age={parsed.max_age} is below {min_age}",
                FAIL,
                -10,
            )
        ]
    return []


def _xcto(headers: Headers) -> list[Finding]:
    # Fetch "determine nosniff": only the first value of the combined, comma-split list
    # counts, ASCII case-insensitively; two `nosniff` fields are just nosniff.
    values = get_decode_split(headers, "x-content-type-options")
    if values is None:
        return [Finding("xcto-missing", "X-Content-Type-Options header is missing", FAIL, -5)]
    if values[0].lower() != "nosniff":
        return [
            Finding(
                "xcto-invalid",
                f"X-Content-Type-Options is {_show(', '.join(values))}: its first value "
                f"{values[0]!r} is not 'nosniff', so browsers sniff (Fetch \"determine nosniff\")",
                FAIL,
                -5,
            )
        ]
    others = {v.lower() for v in values[1:]} - {"nosniff"}
    if others:
        return [
            Finding(
                "xcto-extra-values",
                f"X-Content-Type-Options is {_show(', '.join(values))}; browsers read only the "
                "first value (nosniff), the rest is ignored",
                WARN,
                0,
            )
        ]
    return []


def _xfo_protects(values: list[str]) -> bool | None:
    """HTML "check a navigation response's adherence to X-Frame-Options", framing by others.

    True: framing by other sites blocked; False: allowed; the values as a set
    of lower-cased tokens decide (DENY twice is DENY; conflicting values block).
    """
    tokens = {v.lower() for v in values}
    if len(tokens) > 1:
        return bool(tokens & {"deny", "allowall", "sameorigin"})
    return tokens <= {"deny", "sameorigin"} and bool(tokens)


def _xfo(headers: Headers, policies: list[csp_rules.Policy]) -> tuple[list[Finding], list[Finding]]:
    if any("frame-ancestors" in p for p in policies):
        # Browsers now ignore X-Frame-Options entirely (HTML spec), so only the
        # frame-ancestors values count: one policy that restricts framing is enough.
        reasons = csp_rules.allowed_by_all(policies, "framing")
        if reasons is None:
            bonus = Finding("xfo-via-csp", "framing is restricted by CSP frame-ancestors", WARN, 5)
            return [], [bonus]
        return [
            Finding(
                "frame-ancestors-broad",
                f"CSP {'; '.join(reasons)}; browsers ignore X-Frame-Options when "
                "frame-ancestors is present, so nothing stops framing",
                FAIL,
                -20,
            )
        ], []
    values = get_decode_split(headers, "x-frame-options")
    if values is None:
        return [
            Finding(
                "xfo-missing",
                "X-Frame-Options header is missing and CSP sets no frame-ancestors",
                FAIL,
                -20,
            )
        ], []
    if _xfo_protects(values):
        if len({v.lower() for v in values}) > 1:
            return [
                Finding(
                    "xfo-conflicting",
                    f"X-Frame-Options has conflicting values {_show(', '.join(values))}; "
                    "browsers then block all framing (HTML spec)",
                    WARN,
                    0,
                )
            ], []
        return [], []
    return [
        Finding(
            "xfo-invalid",
            f"X-Frame-Options is {_show(', '.join(values))} (expected DENY or SAMEORIGIN) and "
            "CSP sets no frame-ancestors",
            FAIL,
            -20,
        )
    ], []


def _referrer(headers: Headers) -> tuple[list[Finding], list[Finding]]:
    value = header_value(headers, "referrer-policy")
    if value is None:
        return [
            Finding(
                "referrer-policy-missing",
                "Referrer-Policy header is missing (expected no-referrer, same-origin, "
                "strict-origin or strict-origin-when-cross-origin)",
                FAIL,
                0,
            )
        ], []
    # Referrer Policy "parse a referrer policy from a Referrer-Policy header": get, decode
    # and split (repeated fields are one list), the last recognised token wins (fallbacks).
    tokens = get_decode_split(headers, "referrer-policy") or []
    known = [t for t in (t.lower() for t in tokens) if t in _REFERRER_ALL]
    if not known:
        return [
            Finding(
                "referrer-policy-invalid",
                f"Referrer-Policy {_show(value)} is not recognised",
                FAIL,
                -5,
            )
        ], []
    effective = known[-1]
    if effective in REFERRER_UNSAFE:
        return [
            Finding(
                "referrer-policy-unsafe",
                f"Referrer-Policy is {effective} (leaks the URL); expected no-referrer, "
                "same-origin, strict-origin or strict-origin-when-cross-origin",
                FAIL,
                -5,
            )
        ], []
    return [], [Finding("referrer-policy-private", f"Referrer-Policy is {effective}", WARN, 5)]


def _coop(headers: Headers) -> list[Finding]:
    token, why = _sf_token(headers, "cross-origin-opener-policy")
    if why == "missing":
        return [Finding("coop-missing", "Cross-Origin-Opener-Policy header is missing", FAIL, -5)]
    if token not in _COOP_VALUES:
        shown = why or _show(str(token))
        return [
            Finding(
                "coop-invalid",
                f"Cross-Origin-Opener-Policy {shown}: not a valid value, browsers use unsafe-none",
                FAIL,
                -5,
            )
        ]
    if token == "unsafe-none":
        return [
            Finding(
                "coop-unsafe-none",
                "Cross-Origin-Opener-Policy is unsafe-none (no isolation)",
                WARN,
                -5,
            )
        ]
    return []


def corp_value(headers: Headers) -> tuple[str | None, str | None]:
    """(policy, raw value) as Fetch reads CORP: the combined value must be exactly one of
    same-origin / same-site / cross-origin, else the policy is null (no protection)."""
    value = header_value(headers, "cross-origin-resource-policy")
    return (value if value in _CORP_VALUES else None), value


def _corp(headers: Headers) -> list[Finding]:
    token, value = corp_value(headers)
    if value is None:
        return [Finding("corp-missing", "Cross-Origin-Resource-Policy header is missing", FAIL, 0)]
    if token is None:
        return [
            Finding(
                "corp-invalid",
                f"Cross-Origin-Resource-Policy {_show(value)} is not exactly same-origin, "
                "same-site or cross-origin, so browsers ignore it (Fetch)",
                FAIL,
                -20,
            )
        ]
    if token == "cross-origin":
        return [
            Finding(
                "corp-cross-origin",
                "Cross-Origin-Resource-Policy is cross-origin (any site may embed it)",
                WARN,
                -20,
            )
        ]
    return []


def _everywhere(policies: list[csp_rules.Policy], *loads: str) -> list[str]:
    """Reasons for every load that all enforced policies allow (a browser's answer)."""
    out: list[str] = []
    for load in loads:
        reasons = csp_rules.allowed_by_all(policies, load)
        if reasons is not None:
            out.append(reasons[0] if len(reasons) == 1 else " / ".join(reasons))
    return out


def _csp(headers: Headers) -> tuple[list[Finding], list[Finding], list[csp_rules.Policy]]:
    value = header_value(headers, "content-security-policy")
    report_only = header_value(headers, "content-security-policy-report-only")
    mode = csp_rules.enforcement(value, report_only)
    if mode != "enforcing":
        detail = {
            "report-only": "only Content-Security-Policy-Report-Only is set (nothing enforced)",
            "missing": "Content-Security-Policy header is missing"
            if value is None
            else f"Content-Security-Policy {_show(value)} has no usable directive",
        }[mode]
        return [Finding("csp-missing", detail, WARN, -25)], [], []
    # Each field, and each comma-separated policy in it, is enforced on its own.
    policies = [p for v in _values(headers, "content-security-policy") for p in csp_rules.parse(v)]
    unsafe = _everywhere(
        policies, "inline-script", "script-attr", "data-script", "remote-script", "remote-object"
    )
    if unsafe:
        return (
            [
                Finding(
                    "csp-unsafe",
                    f"CSP allows unsafe inline, data: or broad sources: {' | '.join(unsafe)}",
                    WARN,
                    -20,
                )
            ],
            [],
            policies,
        )
    eval_ok = _everywhere(policies, "eval")
    if eval_ok:
        return (
            [Finding("csp-unsafe-eval", f"CSP {eval_ok[0]}", WARN, -10)],
            [],
            policies,
        )
    if _everywhere(policies, "inline-style", "remote-style"):
        return [], [], policies  # Observatory: unsafe only in style-src -> 0, no bonus
    if any(
        p.get("default-src") is not None
        and [s.lower() for s in p.get("default-src") or ()] == ["'none'"]
        for p in policies
    ):
        bonus = Finding(
            "csp-strict-default-none", "CSP has default-src 'none' and no unsafe source", WARN, 10
        )
    else:
        bonus = Finding("csp-no-unsafe", "CSP has no unsafe script/object/style source", WARN, 5)
    return [], [bonus], policies


def score(
    headers: Headers,
    *,
    hsts_min_age: int = hsts_rules.PF05_MIN_MAX_AGE,
) -> HeaderScore:
    """Score one response's headers, Observatory style (see module doc)."""
    penalties: list[Finding] = []
    bonuses: list[Finding] = []

    csp_pen, csp_bonus, policies = _csp(headers)
    penalties += csp_pen
    bonuses += csp_bonus
    penalties += _hsts(headers, hsts_min_age)
    penalties += _xcto(headers)
    xfo_pen, xfo_bonus = _xfo(headers, policies)
    penalties += xfo_pen
    bonuses += xfo_bonus
    ref_pen, ref_bonus = _referrer(headers)
    penalties += ref_pen
    bonuses += ref_bonus
    penalties += _coop(headers)
    penalties += _corp(headers)

    points = max(0, 100 + sum(f.penalty for f in penalties))
    applied: list[Finding] = []
    if points >= BONUS_THRESHOLD:
        applied = bonuses
        points += sum(b.penalty for b in bonuses)
    return HeaderScore(points, grade_for(points), tuple(penalties), tuple(applied))


# ---------------------------------------------------------------------------
# RT-05: COEP compatibility

_COEP_VALUES = frozenset({"require-corp", "credentialless"})


def embedder_policy(value: str | None) -> str:
    """The COEP value a browser applies (HTML "obtain an embedder policy").

    The header is a structured-field Item; anything that does not parse, or a
    token other than require-corp / credentialless, means unsafe-none.
    """
    name = "cross-origin-embedder-policy"
    token, _ = _sf_token([(name, value)] if value else [], name)
    return token if token in _COEP_VALUES else "unsafe-none"


def coep_findings(headers: Headers) -> list[Finding]:
    """RT-05 page rules: COEP require-corp/credentialless with COOP same-origin.

    Both are needed for cross-origin isolation; one without the other gives
    the breakage risk without the benefit. Both headers are structured-field
    Items: a repeated or malformed field is ignored by browsers.
    """
    out: list[Finding] = []
    coep, why = _sf_token(headers, "cross-origin-embedder-policy")
    if why == "missing":
        out.append(Finding("coep-missing", "Cross-Origin-Embedder-Policy header is missing"))
    elif coep not in _COEP_VALUES:
        shown = why or f"is {_show(str(coep))}"
        out.append(
            Finding(
                "coep-invalid",
                f"Cross-Origin-Embedder-Policy {shown} (expected require-corp or "
                "credentialless; browsers use unsafe-none)",
            )
        )
    coop, why = _sf_token(headers, "cross-origin-opener-policy")
    if coop != "same-origin":
        shown = "missing" if why == "missing" else (why or _show(str(coop)))
        out.append(
            Finding(
                "coop-not-same-origin",
                f"Cross-Origin-Opener-Policy is {shown} (expected same-origin with COEP)",
            )
        )
    return out


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with default ports filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def subresource_findings(
    resource_url: str,
    headers: Headers,
    *,
    coep: str,
    page_url: str | None = None,
) -> list[Finding]:
    """RT-05: does this subresource opt in to being embedded under the page's COEP?

    Under ``require-corp`` the check asks every subresource to opt in with a
    CORP header or CORS (``Access-Control-Allow-Origin``). That is stricter
    than browsers for same-origin loads, on purpose: Fetch's CORP check lets
    a same-origin no-cors response through, but the same asset moved to a
    CDN or another origin would be blocked, so the message says which case it
    is. A ``same-origin`` CORP on a cross-origin resource (when ``page_url``
    is given) is blocked by browsers. ``credentialless`` loads no-cors
    resources without credentials and needs no opt-in.
    """
    if embedder_policy(coep) != "require-corp":
        return []
    corp_token, corp = corp_value(headers)
    acao = header_value(headers, "access-control-allow-origin")
    cross = page_url is not None and origin(page_url) != origin(resource_url)
    if corp is None and acao is None:
        if page_url is not None and not cross:
            consequence = (
                "browsers still load it (it is same-origin with the page), but this check "
                "requires the opt-in anyway: served from a CDN or another origin it would be "
                "blocked"
            )
        elif cross:
            consequence = "it is cross-origin to the page, so browsers block it"
        else:
            consequence = "browsers block it when it is cross-origin to the page"
        return [
            Finding(
                "subresource-no-corp",
                f"{resource_url} has no Cross-Origin-Resource-Policy or CORS header while the "
                f"page sends COEP require-corp: {consequence}",
            )
        ]
    if corp is not None:
        if corp_token is None and acao is None:
            return [
                Finding(
                    "subresource-corp-invalid",
                    f"{resource_url} has invalid Cross-Origin-Resource-Policy {_show(corp)} "
                    "(browsers ignore it)",
                )
            ]
        if corp_token == "same-origin" and acao is None and cross:
            return [
                Finding(
                    "subresource-corp-same-origin-cross-origin",
                    f"{resource_url} is cross-origin to {page_url} but sends "
                    "Cross-Origin-Resource-Policy same-origin: browsers will block it",
                )
            ]
    return []
