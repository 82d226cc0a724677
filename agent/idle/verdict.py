"""What one signal said at one poll: the unit the policy and `status` both work in."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(enum.Enum):
    """A signal's verdict at one poll; only IDLE lets the machine be idle."""

    IDLE = "idle"
    BUSY = "busy"
    UNKNOWN = "unknown"  # could not be read this time: counts as busy (never guess)
    NOT_SUPPORTED = "not supported"  # never readable on this host: left out, shown as such

    @property
    def included(self) -> bool:
        """Whether the signal takes part in the decision."""
        return self is not Verdict.NOT_SUPPORTED


@dataclass(frozen=True, slots=True)
class SignalReading:
    """One signal at one poll.

    `last_active_wall` lets a signal that knows its own history (a tty's last input,
    a Jupyter kernel's last_activity) push its idle-since later than the agent saw:
    it can only make the machine busier, never idler.
    """

    name: str
    value: str
    verdict: Verdict
    detail: str = ""
    last_active_wall: float | None = None
    alert: bool = False
    """An UNKNOWN worth telling an operator about (not a first reading without a delta)."""


def idle(name: str, value: str, last_active_wall: float | None = None) -> SignalReading:
    return SignalReading(name, value, Verdict.IDLE, last_active_wall=last_active_wall)


def busy(name: str, value: str, detail: str = "") -> SignalReading:
    return SignalReading(name, value, Verdict.BUSY, detail)


def unknown(name: str, detail: str, alert: bool = True) -> SignalReading:
    return SignalReading(name, "?", Verdict.UNKNOWN, detail, alert=alert)


def not_supported(name: str, detail: str = "") -> SignalReading:
    return SignalReading(name, "-", Verdict.NOT_SUPPORTED, detail or "not supported")
