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
  +10 when additionally default-src is 'none'. CSP's other BS-05 rules
  (base-uri, reporting ...) are BS-05's business and do not change this
  score.

The scorer's findings carry ``penalty`` (the modifier applied, possibly 0)
and ``severity``: "fail" for PF-05 baseline violations, "warn" for findings
that only lower the score. PF-05 passes when the grade reaches the minimum
AND no "fail" finding remains (:meth:`HeaderScore.blocking`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pytest_spark.rules import csp as csp_rules
from pytest_spark.rules import hsts as hsts_rules
from pytest_spark.rules.findings import FAIL, WARN, Finding

__all__ = [
    "GRADES",
    "HeaderScore",
    "coep_findings",
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


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup in any mapping (plain dict or httpx.Headers).

    Keys differing only in case are joined with ", " as HTTP combines
    repeated fields.
    """
    wanted = name.lower()
    values = [v for k, v in headers.items() if k.lower() == wanted]
    return ", ".join(values) if values else None


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


def _hsts(headers: Mapping[str, str], min_age: int) -> list[Finding]:
    value = header_value(headers, "strict-transport-security")
    if value is None:
        return [Finding("hsts-missing", "Strict-Transport-Security header is missing", FAIL, -20)]
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


def _xcto(headers: Mapping[str, str]) -> list[Finding]:
    value = header_value(headers, "x-content-type-options")
    if value is None:
        return [Finding("xcto-missing", "X-Content-Type-Options header is missing", FAIL, -5)]
    if value.strip().lower() != "nosniff":
        return [
            Finding(
                "xcto-invalid",
                f"X-Content-Type-Options is {_show(value)}, expected exactly 'nosniff'",
                FAIL,
                -5,
            )
        ]
    return []


def _frame_ancestors(policies: list[csp_rules.Policy]) -> bool:
    return any("frame-ancestors" in p for p in policies)


def _xfo(
    headers: Mapping[str, str], policies: list[csp_rules.Policy]
) -> tuple[list[Finding], list[Finding]]:
    if _frame_ancestors(policies):
        bonus = Finding(
            "xfo-via-csp",
            "framing is controlled by CSP frame-ancestors",
            WARN,
            5,
        )
        return [], [bonus]
    value = header_value(headers, "x-frame-options")
    if value is None:
        return [
            Finding(
                "xfo-missing",
                "X-Frame-Options header is missing and CSP sets no frame-ancestors",
                FAIL,
                -20,
            )
        ], []
    tokens = {t.strip().lower() for t in value.split(",")}
    if len(tokens) == 1 and tokens <= {"deny", "sameorigin"}:
        return [], []
    return [
        Finding(
            "xfo-invalid",
            f"X-Frame-Options is {_show(value)} (expected DENY or SAMEORIGIN) and CSP sets "
            "no frame-ancestors",
            FAIL,
            -20,
        )
    ], []


def _referrer(headers: Mapping[str, str]) -> tuple[list[Finding], list[Finding]]:
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
    # Browsers use the last token they recognise (it allows fallbacks).
    known = [t for t in (t.strip().lower() for t in value.split(",")) if t in _REFERRER_ALL]
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


def _first_token(value: str) -> str:
    # COOP / COEP / CORP may carry structured-field parameters (; report-to=...).
    return value.split(";", 1)[0].strip()


def _coop(headers: Mapping[str, str]) -> list[Finding]:
    value = header_value(headers, "cross-origin-opener-policy")
    if value is None:
        return [Finding("coop-missing", "Cross-Origin-Opener-Policy header is missing", FAIL, -5)]
    token = _first_token(value)
    if token not in _COOP_VALUES:
        return [
            Finding(
                "coop-invalid", f"Cross-Origin-Opener-Policy {_show(value)} is not valid", FAIL, -5
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


def _corp(headers: Mapping[str, str]) -> list[Finding]:
    value = header_value(headers, "cross-origin-resource-policy")
    if value is None:
        return [Finding("corp-missing", "Cross-Origin-Resource-Policy header is missing", FAIL, 0)]
    token = _first_token(value)
    if token not in _CORP_VALUES:
        return [
            Finding(
                "corp-invalid",
                f"Cross-Origin-Resource-Policy {_show(value)} is not valid",
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


def _csp_unsafe(policy: csp_rules.Policy, directive: str) -> bool:
    sources = csp_rules.effective_sources(policy, directive)
    lows = [s.lower() for s in sources]
    inline = "'unsafe-inline'" in lows and not csp_rules.has_nonce_or_hash(sources)
    return inline or "data:" in lows or any(csp_rules.broad_reason(s) for s in sources)


def _csp(headers: Mapping[str, str]) -> tuple[list[Finding], list[Finding], list[csp_rules.Policy]]:
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
    policies = csp_rules.parse(value)

    # All policies apply, so a hole counts only if every policy has it.
    def everywhere(pred: Callable[[csp_rules.Policy], bool]) -> bool:
        return all(pred(p) for p in policies)

    script_unsafe = everywhere(lambda p: _csp_unsafe(p, "script-src"))
    object_unsafe = everywhere(lambda p: _csp_unsafe(p, "object-src"))
    if script_unsafe or object_unsafe:
        which = " and ".join(
            n for n, bad in (("script-src", script_unsafe), ("object-src", object_unsafe)) if bad
        )
        srcs = " | ".join(
            f"{n}: {' '.join(csp_rules.effective_sources(policies[0], n))}"
            for n, bad in (("script-src", script_unsafe), ("object-src", object_unsafe))
            if bad
        )
        return (
            [
                Finding(
                    "csp-unsafe",
                    f"CSP {which} allows unsafe inline, data: or broad sources ({srcs})",
                    WARN,
                    -20,
                )
            ],
            [],
            policies,
        )
    if everywhere(
        lambda p: (
            "'unsafe-eval'" in [s.lower() for s in csp_rules.effective_sources(p, "script-src")]
        )
    ):
        return (
            [Finding("csp-unsafe-eval", "CSP script-src allows 'unsafe-eval'", WARN, -10)],
            [],
            policies,
        )
    if everywhere(lambda p: _csp_unsafe(p, "style-src")):
        return [], [], policies  # Observatory: unsafe only in style-src -> 0, no bonus
    if any(csp_rules.effective_sources(p, "default-src") == ("'none'",) for p in policies):
        bonus = Finding(
            "csp-strict-default-none", "CSP has default-src 'none' and no unsafe source", WARN, 10
        )
    else:
        bonus = Finding("csp-no-unsafe", "CSP has no unsafe script/object/style source", WARN, 5)
    return [], [bonus], policies


def score(
    headers: Mapping[str, str],
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


def coep_findings(headers: Mapping[str, str]) -> list[Finding]:
    """RT-05 page rules: COEP require-corp/credentialless with COOP same-origin.

    Both are needed for cross-origin isolation; one without the other gives
    the breakage risk without the benefit.
    """
    out: list[Finding] = []
    coep = header_value(headers, "cross-origin-embedder-policy")
    if coep is None:
        out.append(Finding("coep-missing", "Cross-Origin-Embedder-Policy header is missing"))
    elif _first_token(coep) not in _COEP_VALUES:
        out.append(
            Finding(
                "coep-invalid",
                f"Cross-Origin-Embedder-Policy is {_show(coep)} (expected require-corp or "
                "credentialless)",
            )
        )
    coop = header_value(headers, "cross-origin-opener-policy")
    if coop is None or _first_token(coop) != "same-origin":
        shown = "missing" if coop is None else _show(coop)
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
    headers: Mapping[str, str],
    *,
    coep: str,
    page_url: str | None = None,
) -> list[Finding]:
    """RT-05: would this subresource still load under the page's COEP?

    Under ``require-corp`` the catalog asks every subresource to opt in with
    a CORP header or CORS (``Access-Control-Allow-Origin``) -- stricter than
    browsers for same-origin loads, on purpose: assets get moved to a CDN.
    A ``same-origin`` CORP on a cross-origin resource (when ``page_url`` is
    given) is blocked too. ``credentialless`` loads no-cors resources without
    credentials and needs no opt-in.
    """
    mode = _first_token(coep)
    if mode != "require-corp":
        return []
    corp = header_value(headers, "cross-origin-resource-policy")
    acao = header_value(headers, "access-control-allow-origin")
    if corp is None and acao is None:
        return [
            Finding(
                "subresource-no-corp",
                f"{resource_url} has no Cross-Origin-Resource-Policy or CORS header while the "
                "page sends COEP require-corp: browsers will block it",
            )
        ]
    if corp is not None:
        token = _first_token(corp)
        if token not in _CORP_VALUES and acao is None:
            return [
                Finding(
                    "subresource-corp-invalid",
                    f"{resource_url} has invalid Cross-Origin-Resource-Policy {_show(corp)}",
                )
            ]
        if (
            token == "same-origin"
            and acao is None
            and page_url is not None
            and origin(page_url) != origin(resource_url)
        ):
            return [
                Finding(
                    "subresource-corp-same-origin-cross-origin",
                    f"{resource_url} is cross-origin to {page_url} but sends "
                    "Cross-Origin-Resource-Policy same-origin: browsers will block it",
                )
            ]
    return []
