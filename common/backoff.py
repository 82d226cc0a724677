"""Jittered exponential backoff, shared by every retry loop.

"Full jitter" (a uniform draw below the exponential bound) spreads a fleet's
reconnects after a control-plane restart instead of having every agent knock
at the same instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays for successive failed attempts; `reset()` after a success."""

    initial_s: float = 0.5
    max_s: float = 15.0
    multiplier: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.max_s < self.initial_s or self.multiplier < 1:
            raise ValueError("backoff needs 0 < initial_s <= max_s and multiplier >= 1")

    def bound(self) -> float:
        """The largest delay the next attempt may draw."""
        return min(self.max_s, self.initial_s * self.multiplier**self.attempt)

    def next_delay(self) -> float:
        """Draws the delay before the next attempt and counts the attempt."""
        delay = self.rng.uniform(0, self.bound())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
