"""Per-session bounds that are not audio: a token bucket for typed questions per minute."""

from __future__ import annotations

import time
from collections.abc import Callable

TYPED_BURST = 5  # typed questions a session may send at once before the per-minute rate applies


class TokenBucket:
    """``capacity`` tokens, refilled at ``per_minute``; ``take()`` spends one or says no.
    ``per_minute <= 0`` means no limit. The clock is injectable for pure tests."""

    def __init__(
        self,
        per_minute: float,
        capacity: float = TYPED_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_s = per_minute / 60
        self.capacity = max(1.0, min(capacity, per_minute)) if per_minute > 0 else capacity
        self.clock = clock
        self.tokens, self.t = self.capacity, clock()

    def take(self) -> bool:
        if self.per_s <= 0:
            return True
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.t) * self.per_s)
        self.t = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def wait_s(self) -> float:
        """Seconds until the next token (for the error message)."""
        return 0.0 if self.tokens >= 1 or self.per_s <= 0 else (1 - self.tokens) / self.per_s
