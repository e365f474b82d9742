"""HTTP through httpx with a TOTAL deadline and a size cap on every call.

httpx's timeouts bound each socket operation, so a server that sends its
headers and then one byte a second, or an endless body, is never timed out
(issue 8). Here every call has one deadline, from connect to the last byte of
the body, and a byte cap on the body:

* ``request`` sets the call's deadline (a context variable, so threads and
  concurrent checks each have their own) and reads the body in chunks, counting
  bytes on the wire and decoded (gzip/deflate are decoded here, each step
  bounded, so a small bomb cannot balloon): beyond the cap the connection is
  dropped and it is a ``TooLarge`` ("response from URL exceeded N MiB");
  memory never grows past the cap.
* The client's transport is httpcore's connection pool on a network backend
  that clips every socket operation (DNS, connect, TLS handshake, each send and
  recv) to the time left, so headers trickled byte by byte are cut too; then
  it is a ``TimedOut`` ("timed out after N s talking to URL").

Every HTTP client of the checks is made by :func:`make_client` and every call
goes through :func:`request` (Prometheus's ``requests`` session too, see
:mod:`.prometheus`): the deadline and the cap live here only.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpcore
import httpx

from . import DEFAULT_MAX_BYTES, MIB, ProbeError, TimedOut, TooLarge

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MIB",
    "HttpResponse",
    "ProbeClient",
    "get",
    "get_json",
    "make_client",
    "request",
]

_CHUNK = 64 * 1024

#: Monotonic time at which the current call must be over (None: no call running).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "pytest_spark_http_deadline", default=None
)


@dataclass(frozen=True)
class HttpResponse:
    url: str
    status: int
    headers: list[tuple[str, str]]  # as received: order and duplicates kept
    body: bytes
    elapsed_s: float

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), like a browser reads most headers."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header_map(self) -> dict[str, str]:
        """Lower-cased names; repeated headers joined with ', ' as HTTP allows."""
        out: dict[str, str] = {}
        for key, value in self.headers:
            k = key.lower()
            out[k] = f"{out[k]}, {value}" if k in out else value
        return out

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ProbeError(f"{self.url} did not return JSON ({exc})") from None


# --- the deadline on every socket operation ------------------------------------------


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """The op's own timeout clipped to what is left of the call; ``expired`` when none is."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("deadline of the call passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read/write/handshake ends by the call's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """Addresses of ``host``; getaddrinfo cannot be interrupted, so it runs aside, bounded."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    found: list[Any] = []

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)

    worker = threading.Thread(target=lookup, name=f"spark-dns-{host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not found:
        raise httpcore.ConnectTimeout(f"name resolution of {host} did not finish")
    if isinstance(found[0], OSError):
        raise httpcore.ConnectError(f"cannot resolve {host}: {found[0]}")
    return list(dict.fromkeys(str(info[4][0]) for info in found[0]))


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, each operation clipped to the call's deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port, _left(timeout, httpcore.ConnectTimeout))
        for i, address in enumerate(addresses):
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    _left(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except httpcore.ConnectError:
                if i == len(addresses) - 1:
                    raise
                continue
            return _DeadlineStream(stream)
        raise httpcore.ConnectError(f"no address for {host}")  # pragma: no cover - loop returns

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# httpcore's exceptions as httpx's (most specific first), as httpx's own transport maps them.
_MAPPED: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _mapped(exc: Exception) -> Exception:
    for core, ours in _MAPPED:
        if isinstance(exc, core):
            return ours(str(exc))
    return exc


class _Body(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except httpcore.TimeoutException as exc:  # timeouts first: they are network errors too
            raise _mapped(exc) from None
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise _mapped(exc) from None

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def _ssl_context(verify: bool | str | ssl.SSLContext) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, str):  # a CA bundle file or directory (targets.ca_bundle)
        if Path(verify).is_dir():
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(verify=verify)


class _DeadlineTransport(httpx.BaseTransport):
    """httpcore's pool on the deadline backend. The TLS context is built on first https use
    (~0.2 s), so a client that only talks plain http never pays for it."""

    def __init__(self, verify: bool | str | ssl.SSLContext) -> None:
        self._verify = verify
        self._pools: dict[bool, httpcore.ConnectionPool] = {}
        self._lock = threading.Lock()

    def _pool(self, tls: bool) -> httpcore.ConnectionPool:
        with self._lock:
            if tls not in self._pools:
                self._pools[tls] = httpcore.ConnectionPool(
                    ssl_context=_ssl_context(self._verify) if tls else None,
                    network_backend=_DeadlineBackend(),
                    retries=0,
                )
            return self._pools[tls]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            resp = self._pool(request.url.scheme == "https").handle_request(core)
        except httpcore.TimeoutException as exc:
            raise _mapped(exc) from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise _mapped(exc) from None
        assert isinstance(resp.stream, Iterable)
        return httpx.Response(
            status_code=resp.status,
            headers=resp.headers,
            stream=_Body(resp.stream),
            extensions=resp.extensions,
        )

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


class ProbeClient(httpx.Client):
    """An httpx client that knows its call deadline and size cap (read by :func:`request`).

    Environment proxies are not used (``trust_env`` off): a check talks to the
    target it names, and a proxy's own timeouts would not be ours.
    """

    def __init__(self, *, deadline_s: float, max_bytes: int, **kwargs: Any) -> None:
        if not deadline_s > 0 or not max_bytes > 0:
            raise ValueError(f"deadline ({deadline_s} s) and size cap ({max_bytes} B) must be > 0")
        super().__init__(**kwargs)
        self.deadline_s = deadline_s
        self.max_bytes = max_bytes


def make_client(
    *,
    timeout: float,
    verify: bool | str = True,
    token: str = "",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ProbeClient:
    """A client whose every call ends within ``timeout`` s total and reads at most ``max_bytes``.

    It never follows redirects itself (httpx would read each hop's body whole,
    uncapped): :func:`.pages.follow` follows them hop by hop, each under the cap.
    """
    # Only what _read_capped can decode with a bound (RFC 9110 section 12.5.3).
    headers = {"User-Agent": "pytest-spark/0.1", "Accept-Encoding": "gzip, deflate"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return ProbeClient(
        deadline_s=timeout,
        max_bytes=max_bytes,
        timeout=httpx.Timeout(timeout),
        transport=_DeadlineTransport(verify),
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )


def _mib(max_bytes: int) -> str:
    return f"{max_bytes / MIB:g}"


class _Inflater:
    """gzip / deflate decoding with a bound on the output of every step (zlib's max_length),
    so a small compressed body cannot balloon in memory before the cap is checked."""

    def __init__(self, coding: str, url: str) -> None:
        self.coding, self.url = coding, url
        gzip = coding in ("gzip", "x-gzip")
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
        self._fed = False

    def feed(self, data: bytes, room: int) -> bytes | None:
        """Decoded ``data``; None when it decodes to more than ``room`` bytes."""
        try:
            out = self._z.decompress(data, room + 1)
        except zlib.error as exc:
            if self.coding != "deflate" or self._fed:
                raise ProbeError(
                    f"{self.url} sent a {self.coding} body that does not decode ({exc})"
                ) from None
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent raw, as some servers do
            out = self._z.decompress(data, room + 1)
        self._fed = True
        return None if len(out) > room or self._z.unconsumed_tail else out

    def flush(self) -> bytes:
        return self._z.flush()


def _codings(resp: httpx.Response) -> list[str]:
    value = ",".join(resp.headers.get_list("content-encoding"))
    return [c.strip().lower() for c in value.split(",") if c.strip() and c.strip() != "identity"]


def _read_capped(resp: httpx.Response, url: str, max_bytes: int, deadline: float) -> bytes:
    """The body as sent (gzip/deflate decoded): ``TooLarge`` past ``max_bytes`` on the wire or
    decoded, never buffered past it. Other codings are kept as received (as httpx does)."""
    too_large = f"response from {url} exceeded {_mib(max_bytes)} MiB"
    declared = resp.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"{too_large} (Content-Length: {int(declared)})")
    codings = _codings(resp)
    inflater = None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        inflater = _Inflater(codings[0], url)
    body = bytearray()
    wire = 0
    for chunk in resp.iter_raw(_CHUNK):
        wire += len(chunk)
        part = inflater.feed(chunk, max_bytes - len(body)) if inflater else chunk
        if part is None or wire > max_bytes or len(body) + len(part) > max_bytes:
            raise TooLarge(too_large)
        body += part
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("deadline of the call passed")
    if inflater:
        body += inflater.flush()
        if len(body) > max_bytes:
            raise TooLarge(too_large)
    return bytes(body)


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    content: bytes | str | None = None,
) -> HttpResponse:
    """One call, connect to last byte within the client's deadline and under its size cap.

    Transport failures are ProbeErrors naming the URL: ``TimedOut`` ("timed out
    after N s talking to URL"), ``TooLarge`` ("response from URL exceeded N MiB"),
    else "cannot reach URL: ...".
    """
    deadline_s = getattr(client, "deadline_s", None) or client.timeout.read or 5.0
    max_bytes = getattr(client, "max_bytes", DEFAULT_MAX_BYTES)
    started = time.monotonic()
    deadline = started + deadline_s
    token = _DEADLINE.set(deadline)
    try:
        with client.stream(method, url, headers=headers, json=json, content=content) as resp:
            body = _read_capped(resp, url, max_bytes, deadline)
            final_url = str(resp.url)
            status = resp.status_code
            raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.headers.raw]
    except httpx.TimeoutException:
        raise TimedOut(f"timed out after {deadline_s} s talking to {url}") from None
    except httpx.HTTPError as exc:
        raise ProbeError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from None
    finally:
        _DEADLINE.reset(token)
    return HttpResponse(
        url=final_url,
        status=status,
        headers=raw,
        body=body,
        elapsed_s=round(time.monotonic() - started, 6),
    )


def get(client: httpx.Client, url: str, **kw: Any) -> HttpResponse:
    return request(client, "GET", url, **kw)


def get_json(client: httpx.Client, url: str, expect: int = 200) -> Any:
    resp = get(client, url)
    if resp.status != expect:
        raise ProbeError(f"{url} answered HTTP {resp.status}, expected {expect}")
    return resp.json()
