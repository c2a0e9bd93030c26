"""Latency profiles for tools, so speculation is measured against tools that take real time.

A profile is written ``none``, ``fixed:0.8`` or ``lognormal:median=0.8,p90=2.0`` (seconds).
Real web search APIs take hundreds of milliseconds to seconds; the Stream RAG paper's P50 for the
tool stage is 2.78 s. Benchmarks always print the profile they used.

Draws are per session: ``derived_seed(config seed, session seed, tool)`` seeds one RNG per tool
per session, so a session's latencies depend only on those seeds and its own call sequence,
never on which other sessions run beside it (docs/decisions.md, "per-session seeded RNGs").
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from dataclasses import dataclass

_Z90 = 1.2815515655446004  # standard normal quantile at 0.9


def derived_seed(*parts: object) -> int:
    """A 64-bit seed that depends only on ``parts`` (stable across runs, unlike ``hash()``)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class LatencyProfile:
    kind: str = "none"  # none | fixed | lognormal
    median_s: float = 0.0
    p90_s: float = 0.0

    @classmethod
    def parse(cls, spec: str | None) -> LatencyProfile:
        spec = (spec or "none").strip()
        if spec in ("", "none", "0"):
            return cls()
        kind, _, rest = spec.partition(":")
        if kind == "fixed":
            return cls("fixed", float(rest), float(rest))
        if kind == "lognormal":
            params = dict(p.split("=", 1) for p in rest.split(",") if p)
            median = float(params["median"])
            p90 = float(params.get("p90", median * 2))
            if median <= 0 or p90 < median:
                raise ValueError("lognormal needs 0 < median <= p90")
            return cls("lognormal", median, p90)
        raise ValueError(f"unknown latency profile {spec!r}")

    def sample(self, rng: random.Random | None = None) -> float:
        """One delay in seconds."""
        if self.kind == "none":
            return 0.0
        if self.kind == "fixed" or self.p90_s == self.median_s:
            return self.median_s
        sigma = math.log(self.p90_s / self.median_s) / _Z90
        return (rng or random).lognormvariate(math.log(self.median_s), sigma)

    async def wait(self, rng: random.Random | None = None) -> float:
        """Sleep for one sampled delay (this *is* the simulated tool time); returns it."""
        delay = self.sample(rng)
        if delay > 0:
            await asyncio.sleep(delay)
        return delay

    def __str__(self) -> str:
        if self.kind == "none":
            return "none"
        if self.kind == "fixed":
            return f"fixed:{self.median_s:g}"
        return f"lognormal:median={self.median_s:g},p90={self.p90_s:g}"
