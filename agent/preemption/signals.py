"""`signal`: a signal (SIGUSR1 by default) means "preempted in `notice_s` seconds"."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta

from .base import Notice


class SignalSource:
    name = "signal"

    def __init__(self, signal_name: str, notice_s: float) -> None:
        self.signum = signal.Signals[signal_name]
        self._notice_s = notice_s
        self._notice: Notice | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(self.signum, self.received)

    def received(self) -> None:
        """The first signal sets the deadline; later ones do not move it."""
        if self._notice is None:
            deadline = datetime.now(UTC) + timedelta(seconds=self._notice_s)
            self._notice = Notice(deadline, self.name, f"received {self.signum.name}")

    def poll(self) -> Notice | None:
        return self._notice
