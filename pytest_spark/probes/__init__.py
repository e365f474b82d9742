"""Clients with deadlines for everything a check talks to.

Every probe turns transport problems into ``ProbeError`` with a message that
names the target and the deadline ("timed out after 2.0 s talking to ..."), so
the check ends as ERROR (could not verify) and never hangs or fails wrongly.
The deadline is TOTAL (connect to last byte), not per socket read: a target
that trickles one byte a second still ends the call on time (PRODUCT.md,
"Safety rules"). The kinds below let a caller re-word an error without
parsing its text.
"""

from __future__ import annotations

MIB = 1024 * 1024
#: The size cap of a body or file when none is configured (policy.max_response_mib's default).
DEFAULT_MAX_BYTES = 16 * MIB


class ProbeError(Exception):
    """The target could not be asked: unreachable, timed out, refused, malformed answer."""


class TimedOut(ProbeError):
    """The call's total deadline passed before the answer was complete."""


class TooLarge(ProbeError):
    """The answer is larger than the run's size cap (``policy.max_response_mib``)."""
