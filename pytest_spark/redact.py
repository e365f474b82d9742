"""Secret redaction: nothing that is (or looks like) a credential reaches output.

Two layers. ``known``: the run's registry of secret values (DSN passwords,
``${ENV}`` values, every value of a secret setting however it was given) is
replaced wherever it appears -- also in the encoded forms the text passes
through on its way out: percent-encoding (RFC 3986 section 2.1, e.g. a
``?token=`` in a logged URL), HTML/XML character references (JUnit XML, the
HTML report), JSON and Python string escapes (bundle records, tracebacks),
and up to three of those layers stacked (pytest-html puts escaped HTML inside
JSON inside an HTML attribute). ``text`` adds well-known *shapes* (DSN
passwords, auth headers, token parameters) for free text nobody registered.
Files are redacted with ``known`` only: a shape rule must not eat JSON or XML
structure.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import re2

MASK = "***"
#: Shorter values are not registered: masking every "ab" would shred the output
#: (and each replacement must shorten the text, so redaction terminates).
MIN_SECRET_LEN = 4

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "x-sandbox-token",
    }
)
SECRET_KEY_RE = re.compile(r"(pass(word)?|secret|token|api[_-]?key|credential)", re.I)

# Secret *shapes* run over whatever a target sent back (bodies, logs, tracebacks), so
# they use RE2: linear time in the text. Python's backtracking engine took minutes on
# 200 KB of one letter (the scheme part of _URL_PASSWORD retried at every offset).
_URL_PASSWORD = re2.compile(r"(?i)(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?P<at>@)")
# A quoted value ('a b', "a b") is masked whole; a bare one up to the next space.
_VALUE = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|"""
# "=", "=>" (Ruby/Perl hashes) and "%3D" (a percent-encoded "=" in a logged URL).
_IS = r"\s*(?:=>?|%3[dD])\s*"
# A key may carry a prefix or suffix (PGPASSWORD=, db_password=, client_secret=,
# AWS_SECRET_ACCESS_KEY=): \w*? from the word's start, \w* after the stem.
# A key may be quoted, also JSON-escaped inside a log line: {\"password\": ...}, "pass" = ...
_Q = r"""(?:\\?["'])?"""
_KV_PASSWORD = re2.compile(
    rf"(?i)(?P<head>(?:\b\w*?(?:password|passwd|passphrase)\w*|\bpwd|\bpass){_Q}{_IS})"
    rf"(?P<pw>{_VALUE}[^\s]+)"
)
# token-like keys end at "&" too (a query string's next parameter); a password may hold one
_TOKEN_KEYS = r"token|secret|credential|api[_-]?key|private[_-]?key"
_KV_TOKEN = re2.compile(
    rf"(?i)(?P<head>\b\w*?(?:{_TOKEN_KEYS})\w*{_Q}{_IS})(?P<pw>{_VALUE}[^\s&]+)"
)
# A command-line option and its value: --password x, --api-token x (the dashes make it one).
_OPTION = re2.compile(
    r"(?i)(?P<head>(?:^|\s)--?[\w-]*?(?:pass|passwd|password|token|secret|credential|api[_-]?key)"
    rf"[\w-]*[ \t]+)(?P<pw>{_VALUE}[^\s-][^\s]*)"
)
# SQL as PostgreSQL logs it: ALTER ROLE x PASSWORD 'v' ('' is a quote inside the literal);
# a (key, value) pair as Python prints it: ('password', 'v'); psql's expanded output:
# password | v.
_SQL_PASSWORD = re2.compile(r"(?i)(?P<head>\bpassword\s+)(?P<pw>'(?:[^']|'')*')")
_PAIR = re2.compile(
    r"""(?i)(?P<head>\(\s*b?['"]\w*?(?:password|passwd|passphrase|secret|token|credential|"""
    rf"""api[_-]?key|private[_-]?key)\w*['"]\s*,\s*)(?P<pw>b?{_VALUE}[^\s)]+)"""
)
_PSQL_FIELD = re2.compile(
    r"(?i)(?P<head>\b\w*?(?:password|passwd|secret|token)\w*\s*\|\s*)(?P<pw>[^\s|]+)"
)
# The same keys as a mapping entry: Python reprs and JSON in tracebacks and --showlocals
# ('password': 'x', "token": "x"), YAML and log lines (password: x). A number, true,
# false or null is no secret and stays (a count such as "tokens: 12" keeps its meaning).
_KEY_COLON = re2.compile(
    rf"""(?i)(?P<head>{_Q}\b(?:\w*?(?:password|passwd|passphrase|secret|token|credential|"""
    r"""api[_-]?key|private[_-]?key)\w*|pass)"""
    rf"""{_Q}\s*:\s*)(?P<pw>{_VALUE}[^\s,;}}\]]+)"""
)
# A short number (a count, a limit), true, false or null, quoted or not. A long number
# may be a PIN or a numeric token and is masked.
_KEY_NAME = re.compile(r"[\w-]+")
#: Key names that count or bound something (a plural, a count, a limit), not hold a secret
_COUNTED = re.compile(r"(?i)(?:s(?:_|$)|count|max|min|num|len|size|limit|ttl|timeout|age)")
_FLAG = re.compile(r"""(["']?)(?:true|false|null|none)\1""", re.I)
_PLAIN = re.compile(r"""(["']?)(?:-?\d{1,6}(?:\.\d+)?|true|false|null|none)\1""", re.I)
# The whole value of an Authorization or Cookie header, whatever its scheme or quoting.
_HEADER_VALUE = re2.compile(
    r"""(?i)(?P<head>["']?\b(?:proxy-authorization|authorization|set-cookie|cookie)["']?"""
    rf"""\s*[:=]\s*)(?P<pw>{_VALUE}[^\r\n]+)"""
)
# A private key in PEM (RFC 7468) or OpenPGP armour: the block up to its END line, or,
# cut off before one, the run of base64 (and escaped newlines) after BEGIN -- not the
# rest of the text (a traceback naming the BEGIN line keeps its error). Done by hand
# (``_mask_private_keys``): one regex with both cases rescans to the text's end from
# every BEGIN, quadratic in a body of repeated BEGIN lines. These three use Python's
# engine: RE2's wrapper re-encodes the whole text on every call (quadratic again when
# called per BEGIN), and none of them can backtrack badly (each starts at a literal and
# has no nested repetition).
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
# base64, whitespace, escaped line ends and "\/" (JSON), RFC 1421 header lines (encrypted)
_PEM_BODY = re.compile(r"(?:(?:Proc-Type|DEK-Info):[^\n\\]*|[A-Za-z0-9+/=\s]|\\[rnt/])*")
_QUERY_SECRET = re2.compile(
    r"(?i)(?P<head>[?&](?:password|token|access_token|api_key|apikey|secret)=)(?P<pw>[^&#\s]+)"
)
_BEARER = re2.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)(?P<pw>[A-Za-z0-9._~+/=-]{8,})")


def _mask_private_keys(text: str) -> str:
    """Each private key block's body (and END line) masked; linear in the text."""
    out, pos, ends = [], 0, True
    while (begin := _PEM_BEGIN.search(text, pos)) is not None:
        out.append(text[pos : begin.end()] + MASK)
        end = _PEM_END.search(text, begin.end()) if ends else None
        if end is None:
            ends = False  # no END after this BEGIN: none after a later one either
            body = _PEM_BODY.match(text, begin.end())
            pos = body.end() if body else begin.end()
        else:
            pos = end.end()
    out.append(text[pos:])
    return "".join(out)


# Each shape with its replacement template (no Python callback per match: linear end to end)
_SHAPES = tuple(
    (p, rf"\g<head>{MASK}\g<at>" if "at" in p.groupindex else rf"\g<head>{MASK}")
    for p in (
        _URL_PASSWORD,
        _HEADER_VALUE,
        _KV_PASSWORD,
        _OPTION,
        _QUERY_SECRET,
        _BEARER,
        _SQL_PASSWORD,
        _PAIR,
        _PSQL_FIELD,
    )
)


def _mask_unless_plain(m: Any) -> str:
    """A flag (true/false/null) stays, and so does a short number under a count-like key
    (tokens: 12, max_tokens=100); any other value is masked, a short number too (a PIN,
    an OTP: secret=123456)."""
    head = m.group("head")
    value = m.group("pw").rstrip(",;)")  # a bare value ends at a space: "max=100, min=1"
    if _FLAG.fullmatch(value):
        return m.group(0)
    key = _KEY_NAME.search(head)
    counted = key is not None and _COUNTED.search(key.group(0)) is not None
    return m.group(0) if counted and _PLAIN.fullmatch(value) else head + MASK


class Redactor:
    """The run's registry of secret values, and the masking applied to all output."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._patterns: tuple[re.Pattern[str], re.Pattern[bytes]] | None = None
        self._short: dict[str, str] = {}  # text() of short strings that repeat (ids, labels)
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        """Register a value that must never be written (too-short values would over-mask)."""
        if secret and len(secret) >= MIN_SECRET_LEN and secret not in self._secrets:
            self._secrets.add(secret)
            self._patterns = None
            self._short = {}

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def _compiled(self) -> tuple[re.Pattern[str], re.Pattern[bytes]] | None:
        if not self._secrets:
            return None
        if self._patterns is None:
            alts = sorted({_secret_regex(s) for s in self._secrets}, key=len, reverse=True)
            source = "|".join(alts)
            self._patterns = (re.compile(source), re.compile(source.encode("utf-8")))
        return self._patterns

    def known(self, value: str) -> str:
        """Mask every registered secret in any of its encoded forms (to a fixed point:
        removing one occurrence can join the text around it into another)."""
        pats = self._compiled()
        if pats is None:
            return value
        while True:
            new = pats[0].sub(MASK, value)
            if new == value:
                return value
            value = new

    def known_bytes(self, data: bytes) -> bytes:
        """``known`` on raw bytes (UTF-8 forms), for files of any kind: the last line of
        defence at every write point (bundle files, JUnit XML, HTML report)."""
        pats = self._compiled()
        if pats is None:
            return data
        while True:
            new = pats[1].sub(MASK.encode(), data)
            if new == data:
                return data
            data = new

    def text(self, value: str) -> str:
        """Registered secrets plus secret-shaped substrings, for free text (messages, logs)."""
        short = len(value) <= 120
        if short and value in self._short:
            return self._short[value]
        original = value
        if not value.isascii():  # lone surrogates (os.fsdecode'd names): RE2 takes UTF-8 only
            value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        value = self.known(value)
        value = _mask_private_keys(value)
        for pattern, template in _SHAPES:
            value = pattern.sub(template, value)
        for pattern in (_KV_TOKEN, _KEY_COLON):  # a count or a flag stays ("tokens: 12")
            value = pattern.sub(_mask_unless_plain, value)
        if short and len(self._short) < 4096:
            self._short[original] = value
        return value

    def strings(self, value: Any) -> Any:
        """Every string (keys too) in a JSON-like value through ``text``; the structure and
        non-string values are kept (unlike ``value``, no key is masked for its name)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.strings(k): self.strings(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.strings(v) for v in value]
        return value

    def value(self, value: Any, key: str | None = None) -> Any:
        """Redact recursively; a mapping key that names a secret masks its whole value."""
        if key is not None and _is_secret_key(key) and isinstance(value, (str, bytes, int, float)):
            return MASK if value not in ("", None) else value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.bytes(value)
        if isinstance(value, Mapping):
            return {str(k): self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)) and _is_header_pair(value):
            return [value[0], MASK]
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.value(v) for v in value]
        return value

    def bytes(self, data: bytes) -> bytes:
        """Redact raw captures; bytes that are not UTF-8 get the registry only."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return self.known_bytes(data)
        return self.text(text).encode("utf-8")


# ------------------------------------------------------------ encoded forms


def _pct(s: str) -> str:
    return quote(s, safe="")


def _json(s: str) -> str:
    return json.dumps(s)[1:-1]


def _json_raw(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)[1:-1]


def _py(s: str) -> str:
    """Backslash escapes as Python's repr and TOML basic strings write them."""
    return s.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')


def _xml(s: str) -> str:
    """XML escaping as ElementTree writes attributes, plus charrefs for non-ASCII."""
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return s.encode("ascii", "xmlcharrefreplace").decode("ascii")


def _markup(s: str) -> str:
    """markupsafe/Jinja escaping (pytest-html's template): numeric quote references."""
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace('"', "&#34;").replace("'", "&#39;")


#: Char-wise encoders (enc(ab) == enc(a) + enc(b)), stacked up to three deep per char.
_LAYERS = (
    html.escape,
    _xml,
    _markup,
    _json,
    _json_raw,
    _py,
    _pct,
    lambda s: quote(s, safe="").replace("%20", "+"),
)


@functools.lru_cache(maxsize=4096)
def char_forms(c: str) -> tuple[str, ...]:
    """Every way one character can appear after up to three encoding layers."""
    forms = {c} | _escapes(c)
    frontier = set(forms)
    for _ in range(3):
        frontier = {layer(f) for f in frontier for layer in _LAYERS} - forms
        forms |= frontier
    return tuple(sorted(forms, key=len, reverse=True))


def _escapes(c: str) -> set[str]:
    """Forms of a non-ASCII character written as a reference or escape (XML charrefs,
    JSON ``\\uXXXX`` with surrogate pairs, Python's ``\\xNN``/``\\U`` as pytest writes
    node ids); ASCII is escaped only where a layer says so."""
    code = ord(c)
    if code < 0x80:
        return set()
    out = {f"&#{code};", f"&#x{code:x};"}
    if code > 0xFFFF:
        hi, lo = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        out |= {f"\\u{hi:04x}\\u{lo:04x}", f"\\U{code:08x}"}
    else:
        out.add(f"\\u{code:04x}")
    if code <= 0xFF:
        out.add(f"\\x{code:02x}")
    return out


#: Escapes whose hex digits any encoder may write in either case.
_HEX_ESCAPE = re.compile(r"(%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}|&#x[0-9A-Fa-f]+;)")


def _form_regex(form: str) -> str:
    out = []
    for i, tok in enumerate(_HEX_ESCAPE.split(form)):
        if i % 2:  # an escape: its hex digits in any case
            out.append(
                "".join(
                    f"[{c.lower()}{c.upper()}]" if c.isalpha() and c not in "ux" else re.escape(c)
                    for c in tok
                )
            )
        else:
            out.append(re.escape(tok))
    return "".join(out)


def _secret_regex(secret: str) -> str:
    parts = []
    for c in secret:
        alts = sorted({_form_regex(f) for f in char_forms(c)}, key=len, reverse=True)
        parts.append(alts[0] if len(alts) == 1 else f"(?:{'|'.join(alts)})")
    return "".join(parts)


def _is_header_pair(value: list[Any] | tuple[Any, ...]) -> bool:
    """A [name, value] pair of a credential header, as headers-as-received are recorded."""
    return (
        len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], str)
        and value[0].lower() in SECRET_HEADERS
    )


def _is_secret_key(key: str) -> bool:
    return key.lower() in SECRET_HEADERS or bool(SECRET_KEY_RE.search(key))


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[list[str]]:
    """Headers as received (order and duplicates kept) with credential headers masked."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [[k, MASK if k.lower() in SECRET_HEADERS else v] for k, v in items]
