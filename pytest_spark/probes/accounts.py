"""Which account a writing check (RT-02, RT-06) may place its probe orders under.

Only the one named in ``schema.test_account``. There is no fallback: an account
guessed from the data (say, the newest order's) is a customer's, and a check
must never trade in a customer's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..evidence import Recorder
from . import ProbeError


def probe_account(schema: Mapping[str, Any], evidence: Recorder) -> str:
    """``schema.test_account``, or a ProbeError (the check ERRORs before any write)."""
    account = str(schema.get("test_account") or "").strip()
    if not account:
        raise ProbeError(
            "set schema.test_account: writing checks never place orders under a customer's account"
        )
    evidence.observe("account_source", {"configured": "schema.test_account", "account": account})
    return account
