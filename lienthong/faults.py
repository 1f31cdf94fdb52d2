"""Fault points for crash tests, armed through the environment (never set in production).

``LIENTHONG_FAULT_KILL_AFTER_ROUTED=N`` kills the process with SIGKILL the Nth time the router has
made a batch durable in the delivery topics and not yet committed its inbound offsets (in
transactional routing: one inbound partition's transaction, produced and not committed). So a
test puts a crash exactly in that window, with no timing.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

KILL_AFTER_ROUTED = "LIENTHONG_FAULT_KILL_AFTER_ROUTED"


def kill_after_routed() -> Callable[[], None] | None:
    """The hook armed by :data:`KILL_AFTER_ROUTED`, or None when it is not set."""
    value = os.environ.get(KILL_AFTER_ROUTED, "")
    if not value.isdigit() or int(value) < 1:
        return None
    remaining = int(value)

    def routed() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            os.kill(os.getpid(), signal.SIGKILL)

    return routed
