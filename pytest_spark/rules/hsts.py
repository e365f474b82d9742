"""Strict-Transport-Security parsing, the PF-05 baseline and RT-04 preload rules.

Two rule sets meet here and deliberately differ:

* RFC 6797 (what a browser honours): directive names are case-insensitive,
  ``max-age`` may be a quoted-string, every directive may appear only once,
  and a header that breaks the grammar is ignored *entirely* -- so a repeated
  directive does not merely look untidy, it switches HSTS off.
* The Chromium hstspreload rules (what the preload list accepts):
  max-age >= 31536000, includeSubDomains, preload, no repeated directive, no
  leading zero in max-age, and (their parser) no quoted max-age. A leading
  zero is legal for the RFC, so it is a warning when parsing and becomes a
  failure only in :func:`preload_findings`.
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
    "baseline",
    "parse",
    "preload_findings",
    "redirect_chain_findings",
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


def preload_findings(hsts: Hsts | str | None) -> list[Finding]:
    """RT-04: the Chromium hstspreload header requirements.

    Repeated directives and a leading zero in max-age are failures here even
    though hstspreload's own parser only warns on them: the catalog asks for
    a header that is unambiguous for every browser.
    """
    parsed = _coerce(hsts)
    if parsed is None:
        return [_missing()]
    out: list[Finding] = []
    for issue in parsed.issues:
        if issue.code == "hsts-max-age-leading-zero":
            out.append(Finding(issue.code, issue.message, FAIL))
        else:
            out.append(issue)
    if parsed.max_age is not None:
        if parsed.max_age_quoted:
            out.append(
                Finding(
                    "hsts-max-age-quoted",
                    f'HSTS max-age="{parsed.max_age_raw}" is quoted; the preload list '
                    "accepts only a bare number",
                )
            )
        if parsed.max_age < PRELOAD_MIN_MAX_AGE:
            out.append(
                Finding(
                    "hsts-preload-max-age-too-low",
                    f"HSTS max-age={parsed.max_age} is below the preload minimum "
                    f"{PRELOAD_MIN_MAX_AGE} (1 year)",
                )
            )
        elif parsed.max_age > _TEN_YEARS:
            out.append(
                Finding(
                    "hsts-max-age-over-10-years",
                    f"HSTS max-age={parsed.max_age} is longer than 10 years",
                    WARN,
                )
            )
    if not parsed.include_subdomains:
        out.append(
            Finding(
                "hsts-preload-include-subdomains-missing",
                f"HSTS {_show(parsed.raw)} lacks includeSubDomains",
            )
        )
    if not parsed.preload:
        out.append(Finding("hsts-preload-missing", f"HSTS {_show(parsed.raw)} lacks preload"))
    return out


def _header(headers: Mapping[str, str], name: str) -> str | None:
    values = [v for k, v in headers.items() if k.lower() == name]
    return ", ".join(values) if values else None


def redirect_chain_findings(
    chain: Sequence[tuple[str, int, Mapping[str, str]]],
    max_hops: int = 3,
) -> list[Finding]:
    """RT-04 redirect rules for the chain followed from an ``http://`` URL.

    ``chain`` is every response in order, ``(url requested, status, headers)``,
    starting with the ``http://`` request. Rules (hstspreload's): the first
    redirect goes to https on the same host (ports ignored: HSTS is per
    host), no more than ``max_hops`` redirects, never back to http, and every
    https redirect response itself carries a valid HSTS header (a browser
    that only sees the redirect must still learn HSTS).
    """
    if not chain:
        return [Finding("redirect-chain-empty", "no response recorded for the http:// URL")]
    start_url = chain[0][0]
    start = urlsplit(start_url)
    if start.scheme.lower() != "http":
        return [
            Finding("redirect-start-not-http", f"redirect chain starts at {start_url}, not http://")
        ]
    host = (start.hostname or "").lower()
    out: list[Finding] = []
    hops = 0
    for index, (url, status, headers) in enumerate(chain):
        scheme = urlsplit(url).scheme.lower()
        location = _header(headers, "location")
        is_redirect = 300 <= status < 400
        hsts_value = _header(headers, "strict-transport-security")
        if scheme == "http" and hsts_value is not None:
            out.append(
                Finding("hsts-over-http", f"{url} sends HSTS over plain http (ignored)", WARN)
            )
        if not is_redirect:
            if index == 0:
                out.append(
                    Finding(
                        "http-no-redirect",
                        f"{url} answered {status} instead of redirecting to https",
                    )
                )
            break
        if location is None:
            out.append(
                Finding("redirect-without-location", f"{url} answered {status} with no Location")
            )
            break
        hops = index + 1  # every response before this one was a followed redirect
        target = urljoin(url, location.strip())
        tsplit = urlsplit(target)
        if scheme == "https":
            if hsts_value is None:
                out.append(
                    Finding(
                        "https-redirect-without-hsts",
                        f"https redirect {url} ({status} -> {target}) carries no "
                        "Strict-Transport-Security header",
                    )
                )
            elif not parse(hsts_value).valid:
                out.append(
                    Finding(
                        "https-redirect-invalid-hsts",
                        f"https redirect {url} carries an invalid HSTS header {_show(hsts_value)}",
                    )
                )
        if index == 0:
            if tsplit.scheme.lower() != "https" or (tsplit.hostname or "").lower() != host:
                out.append(
                    Finding(
                        "http-first-redirect-not-https-same-host",
                        f"{url} first redirects to {target}; it must go to https://{host} "
                        "(same host) so HSTS is recorded for that host",
                    )
                )
        elif tsplit.scheme.lower() != "https":
            out.append(
                Finding(
                    "redirect-insecure-hop",
                    f"redirect #{hops} from {url} goes to insecure {target}",
                )
            )
        if hops > max_hops:
            out.append(
                Finding(
                    "http-redirect-too-many",
                    f"{start_url} needs more than {max_hops} redirects to settle",
                )
            )
            break
    else:
        # The recorded chain ended on a redirect that was not followed.
        if hops and hops <= max_hops:
            out.append(
                Finding(
                    "redirect-chain-incomplete",
                    f"the recorded chain from {start_url} ends on a redirect",
                    WARN,
                )
            )
    return out
