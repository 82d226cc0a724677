"""Time, behind an interface, so hour-long idle windows are tested in milliseconds."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time measures windows; wall time is for what crosses processes (expiry)."""

    def monotonic(self) -> float: ...

    def wall(self) -> float:
        """Seconds since the epoch (inhibitor expiry, Jupyter's last_activity)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
