"""In-memory sliding-window rate limits: enough for one control-plane process.

Each limit counts attempts per key (an email, a client address, a user id) over the last
minute; the attempt past the limit is refused with RateLimited, which says when to retry.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import RateLimited
from .config import AccountsConfig

WINDOW_S = 60.0
MAX_TRACKED_KEYS = 50_000
"""Past this many keys, idle ones are dropped, so a flood of addresses cannot grow memory."""


@dataclass
class SlidingWindow:
    """At most `limit` hits per key in any `window_s` seconds."""

    limit: int
    what: str
    window_s: float = WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def hit(self, key: str) -> None:
        """Counts one attempt for `key`; RateLimited when it is over the limit."""
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            retry_after_s = hits[0] + self.window_s - now
            raise RateLimited(
                f"too many {self.what}; try again in {max(1, round(retry_after_s))} s",
                retry_after_s=retry_after_s,
            )
        hits.append(now)
        if len(self._hits) > MAX_TRACKED_KEYS:
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s]:
            del self._hits[key]


@dataclass
class RateLimits:
    """The limits the accounts routes apply, from the settings."""

    login_per_email: SlidingWindow
    login_per_address: SlidingWindow
    register_per_address: SlidingWindow
    api_keys_per_user: SlidingWindow

    @classmethod
    def from_config(cls, config: AccountsConfig) -> RateLimits:
        return cls(
            login_per_email=SlidingWindow(
                config.login_rate_per_minute, "login attempts for this email"
            ),
            login_per_address=SlidingWindow(
                config.login_address_rate_per_minute, "login attempts from your address"
            ),
            register_per_address=SlidingWindow(
                config.register_rate_per_minute, "registrations from your address"
            ),
            api_keys_per_user=SlidingWindow(config.api_key_rate_per_minute, "new API keys"),
        )
