"""Strict-Transport-Security parsing, the PF-05 baseline and RT-04 preload rules.

Two rule sets meet here and deliberately differ:

* RFC 6797 (what a browser honours), :func:`parse`: directive names are
  case-insensitive, ``max-age`` may be a quoted-string, every directive may
  appear only once, and a header that breaks the grammar is ignored
  *entirely* -- so a repeated directive does not merely look untidy, it
  switches HSTS off.
* The Chromium hstspreload checker (what the preload list accepts),
  :func:`preload_parse` / :func:`preload_findings` /
  :func:`redirect_chain_findings`: a line-by-line mirror of
  github.com/chromium/hstspreload (header.go ``ParseHeaderString`` /
  ``EligibleHeader`` for the 1-year bulk policy, response.go, redirects.go;
  read at commit d624d7c), with its issue codes as finding codes. Its parser
  is strict where the RFC is lenient: only the exact ``max-age=`` form
  (``max-age = 1`` is a max-age without a value), digits only (no quotes,
  no sign), at most 2**64-1; directive names by Go's ``strings.EqualFold``.
  Its errors are failures, its warnings warnings, except where the catalog
  (CHECKS.md RT-04) is stricter: a repeated directive and a leading zero in
  max-age fail (hstspreload only warns), and so does a header that
  hstspreload would accept but browsers ignore under RFC 6797.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from pytest_spark.rules.findings import FAIL, WARN, Finding

__all__ = [
    "PF05_MIN_MAX_AGE",
    "PRELOAD_MIN_MAX_AGE",
    "Hsts",
    "PreloadHeader",
    "baseline",
    "parse",
    "preload_findings",
    "preload_parse",
    "redirect_chain_findings",
    "response_verdict",
]

PRELOAD_MIN_MAX_AGE = 31_536_000  # 365 days, hstspreload "bulk-1-year"
PF05_MIN_MAX_AGE = 15_552_000  # 180 days
_TEN_YEARS = 10 * PRELOAD_MIN_MAX_AGE
_MAX_AGE_CAP = 10**18  # saturate absurd values instead of building huge ints
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OWS = " \t"


def _show(value: str, limit: int = 200) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _is_token(text: str) -> bool:
    return bool(text) and all(c in _TCHARS for c in text)


@dataclass(frozen=True, slots=True)
class Hsts:
    """A parsed header. ``issues`` are the parse problems, in header order.

    ``valid`` says whether a browser would honour the header at all
    (RFC 6797 section 8.1: a non-conforming header is ignored).
    """

    raw: str
    directives: tuple[tuple[str, str | None], ...]
    max_age: int | None
    max_age_raw: str | None
    max_age_quoted: bool
    include_subdomains: bool
    preload: bool
    issues: tuple[Finding, ...]

    @property
    def valid(self) -> bool:
        return self.max_age is not None and not any(i.severity == FAIL for i in self.issues)

    def serialize(self) -> str:
        """Canonical header text; parsing it gives the same directives back."""
        parts = []
        for name, value in self.directives:
            if value is None:
                parts.append(name)
            elif _is_token(value):
                parts.append(f"{name}={value}")
            else:
                escaped = value.replace("\\", "\\\\").replace('"', '\\"')
                parts.append(f'{name}="{escaped}"')
        return "; ".join(parts)


def _unquote(value: str) -> str | None:
    """Value of an RFC 7230 quoted-string, or None when malformed."""
    if len(value) < 2 or not value.endswith('"'):
        return None
    out: list[str] = []
    i = 1
    end = len(value) - 1
    while i < end:
        c = value[i]
        if c == "\\":
            if i + 1 >= end + 1:
                return None
            out.append(value[i + 1])
            i += 2
            continue
        if c == '"':
            return None
        out.append(c)
        i += 1
    if i != end:  # the closing quote was consumed by an escape
        return None
    return "".join(out)


def _split_directives(value: str) -> list[str]:
    """Split on ';' outside quoted-strings (a quoted value may contain ';')."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for c in value:
        if escaped:
            escaped = False
        elif quoted and c == "\\":
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif c == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(c)
    parts.append("".join(current))
    return parts


def parse(value: str) -> Hsts:
    """Parse one Strict-Transport-Security header value; never raises."""
    issues: list[Finding] = []
    directives: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    max_age: int | None = None
    max_age_raw: str | None = None
    quoted = False
    include_sub = preload = False

    if not value.strip(_OWS):
        issues.append(Finding("hsts-empty", "Strict-Transport-Security header is empty"))
    for part in _split_directives(value) if value.strip(_OWS) else []:
        part = part.strip(_OWS)
        if not part:
            issues.append(
                Finding("hsts-empty-directive", "HSTS has an empty directive (extra ';')", WARN)
            )
            continue
        raw_name, sep, raw_val = part.partition("=")
        name = raw_name.strip(_OWS)
        val_text = raw_val.strip(_OWS)
        if not _is_token(name):
            issues.append(Finding("hsts-invalid", f"HSTS directive {_show(part)} is not a token"))
            continue
        lname = name.lower()
        parsed_val: str | None = None
        was_quoted = False
        if sep:
            if val_text.startswith('"'):
                parsed_val = _unquote(val_text)
                was_quoted = True
                if parsed_val is None:
                    issues.append(
                        Finding("hsts-invalid", f"HSTS directive {_show(part)} has a broken quote")
                    )
                    continue
            elif _is_token(val_text):
                parsed_val = val_text
            else:
                issues.append(
                    Finding("hsts-invalid", f"HSTS directive {_show(part)} has an invalid value")
                )
                continue
        if lname in seen:
            issues.append(
                Finding(
                    "hsts-repeated-directive",
                    f"HSTS directive {name} is repeated ({_show(value)}); RFC 6797 makes "
                    "browsers ignore the whole header",
                )
            )
            continue
        seen.add(lname)
        directives.append((name, parsed_val))

        if lname == "max-age":
            if parsed_val is None:
                issues.append(Finding("hsts-max-age-no-value", "HSTS max-age has no value"))
                continue
            max_age_raw = parsed_val
            quoted = was_quoted
            if not parsed_val.isascii() or not parsed_val.isdigit():
                issues.append(
                    Finding(
                        "hsts-max-age-not-digits",
                        f"HSTS max-age={parsed_val!r} contains characters that are not digits",
                    )
                )
                continue
            if len(parsed_val) > 1 and parsed_val.startswith("0"):
                issues.append(
                    Finding(
                        "hsts-max-age-leading-zero",
                        f"HSTS max-age={parsed_val} has a leading zero",
                        WARN,
                    )
                )
            digits = parsed_val.lstrip("0") or "0"
            max_age = int(digits) if len(digits) <= 18 else _MAX_AGE_CAP
        elif lname in ("includesubdomains", "preload"):
            if sep:
                issues.append(
                    Finding(
                        "hsts-directive-has-value",
                        f"HSTS directive {name} must not have a value ({_show(part)})",
                    )
                )
                continue
            if lname == "preload":
                preload = True
            else:
                include_sub = True
        else:
            issues.append(
                Finding(
                    "hsts-unknown-directive", f"HSTS has an unknown directive {_show(part)}", WARN
                )
            )

    if max_age is None and not any(
        i.code in ("hsts-max-age-not-digits", "hsts-max-age-no-value", "hsts-empty") for i in issues
    ):
        issues.append(Finding("hsts-max-age-missing", f"HSTS {_show(value)} has no max-age"))
    return Hsts(
        raw=value,
        directives=tuple(directives),
        max_age=max_age,
        max_age_raw=max_age_raw,
        max_age_quoted=quoted,
        include_subdomains=include_sub,
        preload=preload,
        issues=tuple(issues),
    )


def _coerce(hsts: Hsts | str | None) -> Hsts | None:
    return parse(hsts) if isinstance(hsts, str) else hsts


def _missing() -> Finding:
    return Finding("hsts-missing", "no Strict-Transport-Security header")


def baseline(hsts: Hsts | str | None, min_age: int = PF05_MIN_MAX_AGE) -> list[Finding]:
    """PF-05: a valid header whose max-age is at least ``min_age`` seconds."""
    parsed = _coerce(hsts)
    if parsed is None:
        return [_missing()]
    out = [i for i in parsed.issues if i.severity == FAIL]
    if parsed.max_age is not None and parsed.max_age < min_age:
        out.append(
            Finding(
                "hsts-max-age-too-low",
                f"HSTS max-age={parsed.max_age} is below {min_age} ({min_age // 86400} days)",
            )
        )
    return out


# --- the hstspreload mirror ----------------------------------------------------------

_EIGHTEEN_WEEKS = 86400 * 7 * 18
_UINT64_MAX = 2**64 - 1
# Go's unicode.IsSpace (strings.TrimSpace trims these, not just SP/HTAB).
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# The only non-ASCII runes whose Unicode simple case folding reaches an ASCII letter.
_GO_FOLD_EXTRA = {"\u017f": "s", "\u212a": "k"}


def _go_equal_fold(text: str, ascii_target: str) -> bool:
    """Go's strings.EqualFold(text, ascii_target) for an ASCII target."""
    if len(text) != len(ascii_target):
        return False
    for c, t in zip(text, ascii_target, strict=True):
        c = _GO_FOLD_EXTRA.get(c, c)
        if c != t and not (c.isascii() and c.lower() == t.lower()):
            return False
    return True


def _go_lower(text: str) -> str:
    """Go's strings.ToLower: per-rune simple lower-casing (U+0130 -> 'i', one rune)."""
    return "".join("i" if c == "\u0130" else c.lower() for c in text)


@dataclass(frozen=True, slots=True)
class PreloadHeader:
    """hstspreload's HSTSHeader plus the issues ParseHeaderString reported."""

    max_age: int | None
    include_subdomains: bool
    preload: bool
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]


class _Issues:
    def __init__(self) -> None:
        self.errors: list[Finding] = []
        self.warnings: list[Finding] = []

    def error(self, code: str, message: str, unique: bool = False) -> None:
        if not (unique and any(f.code == code for f in self.errors)):
            self.errors.append(Finding(code, message, FAIL))

    def warning(self, code: str, message: str, unique: bool = False) -> None:
        if not (unique and any(f.code == code for f in self.warnings)):
            self.warnings.append(Finding(code, message, WARN))


def _preload_max_age(directive: str, issues: _Issues) -> int | None:
    """hstspreload parseMaxAge: the value after the 8-byte "max-age=" prefix."""
    value = directive[8:]
    for i, c in enumerate(value):
        if i == 0 and c == "0" and len(value.encode()) > 1:
            issues.warning(
                "header.parse.max_age.leading_zero",
                f"HSTS max-age value has a leading zero: {directive!r}",
            )
        if not "0" <= c <= "9":
            issues.error(
                "header.parse.max_age.non_digit_characters",
                f"HSTS max-age value contains characters that are not digits: {directive!r}"
                + (" (hstspreload does not accept a quoted max-age)" if '"' in value else ""),
            )
            return None
    if not value or int(value) > _UINT64_MAX:
        issues.error(
            "header.parse.max_age.parse_int_error",
            f"HSTS max-age value {value!r} cannot be parsed as a 64-bit unsigned number",
        )
        return None
    return int(value)


def preload_parse(value: str) -> PreloadHeader:
    """hstspreload ``ParseHeaderString``: split on ';', trim, match each directive."""
    issues = _Issues()
    max_age: int | None = None
    include_sub = preload = False
    directives = [d.strip(_GO_SPACE) for d in value.split(";")]
    if directives == [""]:
        issues.warning("header.parse.empty", "The HSTS header is empty")
        return PreloadHeader(None, False, False, (), tuple(issues.warnings))
    for d in directives:
        low = _go_lower(d)
        if _go_equal_fold(d, "preload"):
            if preload:
                issues.warning(
                    "header.parse.repeated.preload", "HSTS repeats the preload directive", True
                )
            preload = True
        elif low.startswith("preload"):
            issues.warning(
                "header.parse.invalid.preload",
                f"HSTS has a preload directive with extra parts: {d!r}",
                True,
            )
        elif _go_equal_fold(d, "includesubdomains"):
            if include_sub:
                issues.warning(
                    "header.parse.repeated.include_sub_domains",
                    "HSTS repeats the includeSubDomains directive",
                    True,
                )
            include_sub = True
        elif low.startswith("includesubdomains"):
            issues.warning(
                "header.parse.invalid.include_sub_domains",
                f"HSTS has an includeSubDomains directive with extra parts: {d!r}",
                True,
            )
        elif low.startswith("max-age="):
            before = len(issues.errors)
            parsed = _preload_max_age(d, issues)
            if len(issues.errors) > before or parsed is None:
                continue
            if max_age is None:
                max_age = parsed
            else:
                issues.warning(
                    "header.parse.repeated.max_age", "HSTS repeats the max-age directive", True
                )
        elif low.startswith("max-age"):
            issues.error(
                "header.parse.invalid.max_age.no_value",
                f"HSTS max-age directive {d!r} has no value in the form hstspreload accepts "
                "(exactly 'max-age=<seconds>', no spaces around '=')",
                True,
            )
        elif d == "":
            issues.warning(
                "header.parse.empty_directive",
                "HSTS has an empty directive or extra semicolon",
                True,
            )
        else:
            issues.warning("header.parse.unknown_directive", f"HSTS has an unknown directive {d!r}")
    return PreloadHeader(
        max_age, include_sub, preload, tuple(issues.errors), tuple(issues.warnings)
    )


def _eligible(header: PreloadHeader, raw: str) -> list[Finding]:
    """hstspreload ``EligibleHeader`` for the bulk 1-year policy."""
    out: list[Finding] = []
    if not header.include_subdomains:
        out.append(
            Finding(
                "header.preloadable.include_sub_domains.missing",
                f"HSTS {_show(raw)} lacks includeSubDomains",
            )
        )
    if not header.preload:
        out.append(
            Finding("header.preloadable.preload.missing", f"HSTS {_show(raw)} lacks preload")
        )
    if header.max_age is None:
        out.append(
            Finding(
                "header.preloadable.max_age.missing",
                f"HSTS {_show(raw)} has no valid max-age directive",
            )
        )
    elif header.max_age < PRELOAD_MIN_MAX_AGE:
        code = (
            "header.preloadable.max_age.zero"
            if header.max_age == 0
            else "header.preloadable.max_age.below_1_year"
        )
        out.append(
            Finding(
                code,
                f"HSTS max-age={header.max_age} is below the preload minimum "
                f"{PRELOAD_MIN_MAX_AGE} (1 year)",
            )
        )
    elif header.max_age > _TEN_YEARS:
        out.append(
            Finding(
                "header.preloadable.max_age.over_10_years",
                f"HSTS max-age={header.max_age} is longer than 10 years",
                WARN,
            )
        )
    return out


# hstspreload warnings the catalog (CHECKS.md RT-04) makes failures.
_CATALOG_FAILS = {
    "header.parse.repeated.preload": "browsers ignore a header with a repeated directive "
    "(RFC 6797 6.1)",
    "header.parse.repeated.include_sub_domains": "browsers ignore a header with a repeated "
    "directive (RFC 6797 6.1)",
    "header.parse.repeated.max_age": "browsers ignore a header with a repeated directive "
    "(RFC 6797 6.1)",
    "header.parse.max_age.leading_zero": "the catalog asks for max-age without a leading zero",
}


def preload_findings(hsts: Hsts | str | None) -> list[Finding]:
    """RT-04: hstspreload's header verdict for one STS value, plus the catalog's stricter rules.

    hstspreload errors fail and its warnings warn, except the warnings in
    ``_CATALOG_FAILS``; and a header hstspreload accepts but browsers would
    ignore under RFC 6797 fails as ``catalog.hsts.not_honoured``.
    """
    if hsts is None:
        return [_missing()]
    if isinstance(hsts, Hsts):
        hsts = hsts.raw
    header = preload_parse(hsts)
    out = list(header.errors)
    for w in header.warnings:
        if w.code in _CATALOG_FAILS:
            out.append(
                Finding(
                    w.code,
                    f"{w.message}: hstspreload only warns, RT-04 fails because "
                    f"{_CATALOG_FAILS[w.code]}",
                )
            )
        else:
            out.append(w)
    out += _eligible(header, hsts)
    if not any(f.severity == FAIL for f in out):
        rfc = parse(hsts)
        if not rfc.valid:
            why = "; ".join(i.message for i in rfc.issues if i.severity == FAIL)
            out.append(
                Finding(
                    "catalog.hsts.not_honoured",
                    f"HSTS {_show(hsts)} passes hstspreload but browsers ignore it under "
                    f"RFC 6797: {why}",
                )
            )
    return out


def _header_values(headers: Mapping[str, str] | Sequence[tuple[str, str]], name: str) -> list[str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [v for k, v in pairs if k.lower() == name]


# Go's http.Client follows only these (net/http redirectBehavior), and only with a Location.
_FOLLOWED = frozenset({301, 302, 303, 307, 308})


def _raw_hostname(url: str) -> str:
    """Go's URL.Hostname(): the host as written (not lower-cased), without port or brackets."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    return netloc.partition(":")[0]


def _response_verdict(headers: Mapping[str, str] | Sequence[tuple[str, str]]) -> list[Finding]:
    """hstspreload ``PreloadableResponse``: exactly one STS field, and that one eligible."""
    values = _header_values(headers, "strict-transport-security")
    if not values:
        return [Finding("response.no_header", "no Strict-Transport-Security header")]
    if len(values) > 1:
        return [
            Finding(
                "response.multiple_headers",
                f"{len(values)} Strict-Transport-Security headers {values!r}; hstspreload "
                "accepts exactly one (browsers use only the first)",
            )
        ]
    return preload_findings(values[0])


def response_verdict(
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
) -> list[Finding]:
    """RT-04 for one https response: hstspreload's response rules (see module doc)."""
    return _response_verdict(headers)


Chain = Sequence[tuple[str, int, Mapping[str, str] | Sequence[tuple[str, str]]]]


def redirect_chain_findings(chain: Chain, max_hops: int = 3) -> list[Finding]:
    """RT-04 redirect rules for the chain followed from an ``http://`` URL.

    ``chain`` is every response in order, ``(url requested, status, headers)``,
    starting with the ``http://`` request. hstspreload's rules
    (``preloadableHTTPRedirectsURL``): no HSTS over http (warning); the http
    URL redirects; the first redirect goes to https on the same host (host as
    written, ports ignored), else ``www_first`` / ``first_redirect.insecure``;
    the response there passes the preload header rules; every later hop is
    https; at most ``max_hops`` redirects. Plus the catalog's rule: every
    other https redirect response carries a valid HSTS header too.
    """
    if not chain:
        return [Finding("redirect-chain-empty", "no response recorded for the http:// URL")]
    start_url = chain[0][0]
    if urlsplit(start_url).scheme.lower() != "http":
        return [
            Finding("redirect-start-not-http", f"redirect chain starts at {start_url}, not http://")
        ]
    domain = (urlsplit(start_url).hostname or "").lower()
    out: list[Finding] = []
    if _header_values(chain[0][2], "strict-transport-security"):
        out.append(
            Finding(
                "redirects.http.useless_header",
                f"{start_url} sends HSTS over plain http, where it has no effect",
                WARN,
            )
        )
    # The redirect targets Go's client would follow, in order (hstspreload's "chain").
    targets: list[str] = []
    for url, status, headers in chain:
        locations = _header_values(headers, "location")
        if status not in _FOLLOWED or not locations:
            break
        targets.append(urljoin(url, locations[0].strip()))
    if len(targets) > max_hops:
        out.append(
            Finding(
                "redirects.too_many",
                f"{start_url} needs more than {max_hops} redirects to settle",
            )
        )
    if not targets:
        status = chain[0][1]
        out.append(
            Finding(
                "redirects.http.no_redirect",
                f"{start_url} answered {status} instead of redirecting to https://{domain}",
            )
        )
        return out
    first = targets[0]
    first_split = urlsplit(first)
    if first_split.scheme.lower() == "https" and _raw_hostname(first) == domain:
        if len(chain) > 1:
            errors = [f for f in _response_verdict(chain[1][2]) if f.severity == FAIL]
            if errors:
                out.append(
                    Finding(
                        "redirects.http.first_redirect.no_hsts",
                        f"{start_url} redirects to {first}, which does not serve an HSTS header "
                        f"that satisfies the preload rules; first error: {errors[0].message}",
                    )
                )
        for i, target in enumerate(targets):
            if urlsplit(target).scheme.lower() != "https":
                code = "redirects.insecure.initial" if i == 0 else "redirects.insecure.subsequent"
                out.append(
                    Finding(code, f"redirect #{i + 1} from {start_url} goes to insecure {target}")
                )
                break
        if len(chain) == 1:
            out.append(
                Finding(
                    "redirect-chain-incomplete",
                    f"the recorded chain from {start_url} ends on a redirect to {first}",
                    WARN,
                )
            )
        out += _https_redirects_carry_hsts(chain)
        return out
    if _raw_hostname(first) == f"www.{domain}":
        code, why = "redirects.http.www_first", "before adding www"
    else:
        code, why = "redirects.http.first_redirect.insecure", "on the same host"
    out.append(
        Finding(
            code,
            f"{start_url} first redirects to {first}; it must go to https://{domain} {why} "
            "so HSTS is recorded for that host",
        )
    )
    return out


def _https_redirects_carry_hsts(chain: Chain) -> list[Finding]:
    """Catalog rule: https redirects after the first one also carry a valid HSTS header."""
    out: list[Finding] = []
    for url, status, headers in chain[2:]:
        if urlsplit(url).scheme.lower() != "https" or status not in _FOLLOWED:
            continue
        values = _header_values(headers, "strict-transport-security")
        if not values:
            out.append(
                Finding(
                    "https-redirect-without-hsts",
                    f"https redirect {url} ({status}) carries no Strict-Transport-Security header",
                )
            )
        elif not parse(values[0]).valid:
            out.append(
                Finding(
                    "https-redirect-invalid-hsts",
                    f"https redirect {url} carries an invalid HSTS header {_show(values[0])}",
                )
            )
    return out
