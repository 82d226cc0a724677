"""The explainable decision: every signal, its value, its verdict, how long it has been idle.

It is what `torpor-agent status` prints, what the agent writes to status.json each poll
and what an IdleReport carries to the control plane, so all three always agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .verdict import Verdict


@dataclass(frozen=True, slots=True)
class SignalStatus:
    name: str
    value: str
    verdict: Verdict
    idle_for_s: float | None  # None: not idle now, or left out
    detail: str = ""


@dataclass(frozen=True)
class Decision:
    """One poll's verdict on the whole machine."""

    idle: bool
    window_s: float
    signals: list[SignalStatus]
    hibernate_in_s: float | None
    """Seconds until the window is complete, while every signal is idle; else None."""
    idle_since_wall: float | None = None
    alerts: list[SignalStatus] = field(default_factory=list)
    """Signals that became unreadable at this poll."""

    def blockers(self) -> list[SignalStatus]:
        """Included signals that are not idle now: the reasons the machine is busy."""
        return [s for s in self.signals if s.verdict in (Verdict.BUSY, Verdict.UNKNOWN)]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for each in (*data["signals"], *data["alerts"]):
            each["verdict"] = each["verdict"].value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        def status(raw: dict[str, Any]) -> SignalStatus:
            return SignalStatus(**(raw | {"verdict": Verdict(raw["verdict"])}))

        return cls(
            idle=bool(data["idle"]),
            window_s=float(data["window_s"]),
            signals=[status(raw) for raw in data["signals"]],
            hibernate_in_s=data.get("hibernate_in_s"),
            idle_since_wall=data.get("idle_since_wall"),
            alerts=[status(raw) for raw in data.get("alerts", [])],
        )
