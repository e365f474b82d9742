"""The app-level faults the launcher can switch on and off at run time.

This module only keeps the state (which faults are active, with which value);
the parts of the app consult it. Side effects of switching (stopping a job,
planting expired keys, leaking connections) live in control.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# name -> one-line meaning; the exact set the control API accepts.
FAULTS: dict[str, str] = {
    "csp-unsafe-inline": "add 'unsafe-inline' to script-src",
    "csp-removed": "send no Content-Security-Policy header at all",
    "csp-report-only": "send the policy only as Content-Security-Policy-Report-Only",
    "header-removed": "drop one response header (value: its name; X-Content-Type-Options)",
    "hsts-short": "HSTS max-age=31535999 (one second below a year)",
    "hsts-no-preload": "HSTS without the preload directive",
    "asset-without-corp": "serve /static/logo.svg without Cross-Origin-Resource-Policy",
    "api-floats": "serialize money fields as JSON numbers",
    "price-through-float": "pass order prices through a 32-bit float before storing",
    "metric-family-missing": "stop exporting one metric family (value: its name)",
    "new-flag-on": "new_checkout_flow (new in 1.4.0) defaults to true",
    "version-old": "report version 1.3.1",
    "flags-stale": "flag snapshot frozen one version behind and ~10 minutes old",
    "relay-stopped": (
        "the outbox relay stops publishing and its heartbeat goes stale "
        "(value: seconds after which it resumes by itself)"
    ),
    "relay-dedupe-off": (
        "a relay resumed after a stall re-delivers the events of the 5 s before it (no dedupe)"
    ),
    "purge-stopped": "the idempotency purge stops; expired keys are planted",
    "leak-connections": "hold DB connections idle in transaction, growing to a bound",
    "error-burst": "every non-control request answers 503",
    "no-idempotency-unique": "check-then-insert idempotency without the unique constraint",
    # canary faults (CANARY.md): degrade one track so its rollback triggers fire
    "latency": "every non-control request waits (value: seconds, default 0.5)",
    "error-ratio": "a share of requests answers 503 (value: 0..1, default 0.1)",
    "memory-leak": "resident memory grows (value: bytes/s, default 4 MiB/s, bounded)",
    "ws-storm": (
        "the price feed drops every WebSocket right after its first message "
        "(value: seconds after which it ends by itself)"
    ),
}
DEFAULT_LATENCY_S = 0.5
DEFAULT_ERROR_RATIO = 0.1

# Contract breaks (CT-01/CT-02): each changes what a consumer's pact relies on.
FAULTS.update(
    {
        "contract-field-renamed": "order documents name their status field 'state'",
        "order-created-200": "POST /orders answers 200 instead of 201 Created",
        "idempotency-error-changed": (
            "POST /orders without Idempotency-Key answers 422 {error} instead of a 400 problem"
        ),
        "event-field-missing": "OrderAccepted outbox events lack the quantity field",
        "event-type-renamed": "the order event is written as OrderCreated, not OrderAccepted",
    }
)

DEFAULT_HEADER_REMOVED = "X-Content-Type-Options"
DEFAULT_MISSING_FAMILY = "spark_ws_last_update_age_seconds"
OLD_VERSION = "1.3.1"


class UnknownFault(KeyError):
    """The name is not one of FAULTS."""


@dataclass
class FaultState:
    """Active faults of one app instance and their optional values."""

    active: dict[str, Any] = field(default_factory=dict)

    def activate(self, name: str, value: Any = None) -> None:
        """Switch a fault on (again), replacing its value."""
        if name not in FAULTS:
            raise UnknownFault(name)
        self.active[name] = value

    def deactivate(self, name: str) -> bool:
        """Switch a fault off; False when it was not on."""
        if name not in FAULTS:
            raise UnknownFault(name)
        return self.active.pop(name, _MISSING) is not _MISSING

    def on(self, name: str) -> bool:
        """Whether a fault is active."""
        return name in self.active

    def value(self, name: str, default: Any = None) -> Any:
        """The fault's value, or default when it is off or has none."""
        value = self.active.get(name)
        return default if value is None else value


_MISSING = object()
