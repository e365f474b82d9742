"""Security response headers, built per response from the active faults."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import DEFAULT_HEADER_REMOVED, FaultState

CSP_REPORT_PATH = "/csp-report"
HSTS_MAX_AGE = 63_072_000
HSTS_SHORT_MAX_AGE = 31_535_999
CORP_EXEMPT_ASSET = "/static/logo.svg"


def content_security_policy(unsafe_inline: bool = False) -> str:
    """The enforcing policy: same-origin everything, no inline script, reporting on."""
    script_src = "'self' 'unsafe-inline'" if unsafe_inline else "'self'"
    directives = [
        "default-src 'self'",
        f"script-src {script_src}",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        f"report-uri {CSP_REPORT_PATH}",
        "report-to csp",
    ]
    return "; ".join(directives)


def strict_transport_security(short: bool = False, preload: bool = True) -> str:
    """HSTS value; the healthy one is preload-eligible."""
    parts = [f"max-age={HSTS_SHORT_MAX_AGE if short else HSTS_MAX_AGE}", "includeSubDomains"]
    if preload:
        parts.append("preload")
    return "; ".join(parts)


def security_headers(faults: FaultState, path: str) -> list[tuple[str, str]]:
    """Every security header for a response to ``path`` under the current faults."""
    headers: list[tuple[str, str]] = []
    if not faults.on("csp-removed"):
        name = (
            "Content-Security-Policy-Report-Only"
            if faults.on("csp-report-only")
            else "Content-Security-Policy"
        )
        headers.append((name, content_security_policy(faults.on("csp-unsafe-inline"))))
        headers.append(("Reporting-Endpoints", f'csp="{CSP_REPORT_PATH}"'))
    hsts = strict_transport_security(
        short=faults.on("hsts-short"), preload=not faults.on("hsts-no-preload")
    )
    headers += [
        ("Strict-Transport-Security", hsts),
        ("Cross-Origin-Embedder-Policy", "require-corp"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if not (faults.on("asset-without-corp") and path == CORP_EXEMPT_ASSET):
        headers.append(("Cross-Origin-Resource-Policy", "same-origin"))
    headers += [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("X-Frame-Options", "DENY"),
    ]
    if faults.on("header-removed"):
        removed = str(faults.value("header-removed", DEFAULT_HEADER_REMOVED)).lower()
        headers = [(n, v) for n, v in headers if n.lower() != removed]
    return headers


_MANAGED = frozenset(
    name.lower()
    for name in (
        "Content-Security-Policy",
        "Content-Security-Policy-Report-Only",
        "Reporting-Endpoints",
        "Strict-Transport-Security",
        "Cross-Origin-Embedder-Policy",
        "Cross-Origin-Opener-Policy",
        "Cross-Origin-Resource-Policy",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "X-Frame-Options",
    )
)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response, replacing any already set."""

    def __init__(self, app: ASGIApp, faults: FaultState) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() not in _MANAGED
                ]
                extra = [
                    (k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in security_headers(self.faults, path)
                ]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
