"""How long a connection may stay silent: before an accepted ``start`` (``start_timeout_s``,
counted from the connection's opening) and after it (``idle_timeout_s``, per receive)."""

from __future__ import annotations

import time


def busy_message(max_sessions: int) -> str:
    """The ``server_busy`` message, at connect (app.py) or at ``start``."""
    return f"{max_sessions} sessions already started (max_sessions); try again later"


class ReceiveDeadlines:
    def __init__(self, start_timeout_s: float, idle_timeout_s: float) -> None:
        self.start_timeout_s, self.idle_timeout_s = start_timeout_s, idle_timeout_s
        self._start_by = time.monotonic() + start_timeout_s  # when 0: never

    def next_wait(self, started: bool) -> tuple[float | None, bool]:
        """How long the next receive may wait (None: forever), and whether what ends it is
        the start deadline (else the idle timeout)."""
        idle = self.idle_timeout_s if self.idle_timeout_s > 0 else None
        if started or self.start_timeout_s <= 0:
            return idle, False
        left = self._start_by - time.monotonic()
        if idle is not None and idle < left:
            return idle, False
        return left, True
