"""The sandbox trading API: a real reference implementation of the Spark platform's API.

Run it with ``python -m pytest_spark.sandbox.app --port N --dsn DSN ...`` or
build it in-process with :func:`create_app`.

The package itself imports nothing heavy: a preflight run reads only the flag
definitions (``.flags``) and must not pay for starlette, uvicorn and the
Prometheus client (issue 13: a run imports only what its selected checks need).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .factory import create_app
    from .settings import AppSettings

__all__ = ["AppSettings", "create_app"]


def __getattr__(name: str) -> Any:
    """Import the app's building blocks on first use (PEP 562)."""
    if name == "create_app":
        from .factory import create_app

        return create_app
    if name == "AppSettings":
        from .settings import AppSettings

        return AppSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
