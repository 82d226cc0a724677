"""The idle policy: idle only when every included signal was idle for the whole window.

Each signal keeps the monotonic time it has been idle since. A BUSY or UNKNOWN reading
resets it (unknown is busy: a guess can cost someone a training run); NOT_SUPPORTED
leaves the signal out of the decision. A signal that stops being reported is forgotten,
so it starts its window afresh if it comes back.
"""

from __future__ import annotations

from collections.abc import Iterable

from .decision import Decision, SignalStatus
from .verdict import SignalReading, Verdict


class IdlePolicy:
    """Feed it every poll's readings; it answers with the machine's decision."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._idle_since: dict[str, float | None] = {}
        self._verdicts: dict[str, Verdict] = {}

    def observe(self, readings: Iterable[SignalReading], now_s: float, now_wall: float) -> Decision:
        readings = list(readings)
        alerts = [self._status(r, now_s) for r in readings if self._newly_unknown(r)]
        self._forget_missing({r.name for r in readings})
        for reading in readings:
            self._update(reading, now_s, now_wall)
        signals = [self._status(r, now_s) for r in readings]
        return self._decide(signals, now_wall, alerts)

    def _newly_unknown(self, reading: SignalReading) -> bool:
        was = self._verdicts.get(reading.name)
        return reading.alert and reading.verdict is Verdict.UNKNOWN and was is not Verdict.UNKNOWN

    def _forget_missing(self, names: set[str]) -> None:
        for name in set(self._idle_since) - names:
            del self._idle_since[name]
            self._verdicts.pop(name, None)

    def _update(self, reading: SignalReading, now_s: float, now_wall: float) -> None:
        # A quiet unknown (no data yet) must not hide a failure that follows it.
        quiet = reading.verdict is Verdict.UNKNOWN and not reading.alert
        self._verdicts[reading.name] = Verdict.BUSY if quiet else reading.verdict
        if reading.verdict is not Verdict.IDLE:
            self._idle_since[reading.name] = None
            return
        since = self._idle_since.get(reading.name)
        since = now_s if since is None else since
        if reading.last_active_wall is not None:  # the signal's own history is later
            since = max(since, now_s - max(0.0, now_wall - reading.last_active_wall))
        self._idle_since[reading.name] = since

    def _status(self, reading: SignalReading, now_s: float) -> SignalStatus:
        since = self._idle_since.get(reading.name)
        idle_for = None if since is None or reading.verdict is not Verdict.IDLE else now_s - since
        return SignalStatus(reading.name, reading.value, reading.verdict, idle_for, reading.detail)

    def _decide(
        self, signals: list[SignalStatus], now_wall: float, alerts: list[SignalStatus]
    ) -> Decision:
        included = [s for s in signals if s.verdict.included]
        idle_fors = [s.idle_for_s for s in included]
        if not included or any(each is None for each in idle_fors):
            return Decision(False, self.window_s, signals, None, alerts=alerts)
        shortest = min(each for each in idle_fors if each is not None)
        remaining = max(0.0, self.window_s - shortest)
        return Decision(
            idle=remaining == 0,
            window_s=self.window_s,
            signals=signals,
            hibernate_in_s=remaining,
            idle_since_wall=now_wall - shortest,
            alerts=alerts,
        )
