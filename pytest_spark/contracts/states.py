"""Provider states: the Pact verifier asks this proxy, the proxy asks the platform.

The verifier POSTs Pact's state change request ``{"state", "params", "action"}``
to one URL before each interaction (docs.pact.io/provider/using_provider_states_effectively).
This loopback proxy is that URL. It forwards the request to
``contracts.provider_states_url`` with the configured token and a deadline,
puts ``params.account`` to ``schema.test_account`` (a state that writes, writes
there and nowhere else), records every call for the evidence, and hands the
platform's JSON answer back, so ``fromProviderState`` generators get the ids it
made. A state that cannot be set is answered 422: the verifier then reports the
interaction as not verified (an ERROR for us), and does not retry it as it
would a 5xx.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

MAX_ANSWER_BYTES = 64 * 1024
CANNOT_SET = 422


@dataclass
class StateForwarder:
    """Forwards state changes to the platform's endpoint and remembers each one."""

    target_url: str
    token: str
    account: str
    timeout_s: float
    verify_tls: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)

    def change(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status for the verifier, JSON answer) of one state change request."""
        state = str(request.get("state") or "")
        action = str(request.get("action") or "setup")
        params = dict(request.get("params") or {})
        if self.account:
            params["account"] = self.account
        call: dict[str, Any] = {"state": state, "action": action, "params": params}
        started = time.monotonic()
        status, answer = self._forward(state, action, params, call)
        call["elapsed_s"] = round(time.monotonic() - started, 3)
        self.calls.append(call)
        return status, answer

    def _forward(
        self, state: str, action: str, params: dict[str, Any], call: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if not state or action == "teardown":  # Pact's generic hook / nothing to undo
            call["result"] = "nothing to do"
            return 200, {}
        if not self.target_url:
            call["error"] = (
                "no contracts.provider_states_url configured: the state cannot be set "
                "(the sandbox API offers one; a real platform must configure it)"
            )
            return CANNOT_SET, {"error": call["error"]}
        headers = {}
        if self.token:
            headers = {"X-Sandbox-Token": self.token, "Authorization": f"Bearer {self.token}"}
        body = {"state": state, "params": params, "action": action}
        try:
            resp = httpx.post(
                self.target_url,
                json=body,
                headers=headers,
                timeout=self.timeout_s,
                verify=self.verify_tls,
            )
        except httpx.HTTPError as exc:
            call["error"] = f"{self.target_url}: {type(exc).__name__}: {exc}"[:300]
            return CANNOT_SET, {"error": call["error"]}
        text = resp.content[:MAX_ANSWER_BYTES].decode("utf-8", "replace")
        call["status"] = resp.status_code
        call["answer"] = text
        if resp.status_code >= 300:
            call["error"] = f"{self.target_url} answered {resp.status_code}: {text[:200]}"
            return CANNOT_SET, {"error": call["error"]}
        try:
            answer = json.loads(text) if text.strip() else {}
        except ValueError:
            answer = {}
        return 200, answer if isinstance(answer, dict) else {}


class StateProxy:
    """``with StateProxy(forwarder) as url:`` a loopback URL for ``Verifier.state_handler``."""

    def __init__(self, forwarder: StateForwarder) -> None:
        self.forwarder = forwarder
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> str:
        forwarder = self.forwarder

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_ANSWER_BYTES)
                try:
                    request = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    request = {}
                status, answer = forwarder.change(request if isinstance(request, dict) else {})
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/provider-states"

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
