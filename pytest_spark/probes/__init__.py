"""Clients with deadlines for everything a check talks to.

Every probe turns transport problems into ``ProbeError`` with a message that
names the target and the deadline ("timed out after 2.0 s talking to ..."), so
the check ends as ERROR (could not verify) and never hangs or fails wrongly.
"""

from __future__ import annotations


class ProbeError(Exception):
    """The target could not be asked: unreachable, timed out, refused, malformed answer."""
