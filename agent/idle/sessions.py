"""Logged-in terminals (SSH and local ttys): a keystroke within the window is activity.

A terminal's last input is its device's access time (what `w` shows as IDLE), so an
SSH session left open overnight does not keep a machine up, but one in use does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import psutil

from .verdict import SignalReading, idle, unknown

NAME = "sessions.ssh"


class Terminal(NamedTuple):
    user: str
    terminal: str  # e.g. "pts/3"
    host: str


def logged_in() -> list[Terminal]:
    return [Terminal(u.name, u.terminal or "", u.host or "") for u in psutil.users()]


def last_input(terminal: str) -> float:
    """The wall time of the terminal's last input (its device's atime)."""
    return Path("/dev", terminal).stat().st_atime


class SessionSignal:
    """One reading for every logged-in terminal together."""

    def __init__(
        self,
        users: Callable[[], list[Terminal]] = logged_in,
        input_at: Callable[[str], float] = last_input,
    ) -> None:
        self._users = users
        self._input_at = input_at

    def read(self) -> SignalReading:
        try:
            terminals = [t for t in self._users() if t.terminal]
            latest = max((self._input_at(t.terminal) for t in terminals), default=None)
        except (psutil.Error, OSError) as error:
            return unknown(NAME, f"logged-in terminals cannot be read: {error}")
        if not terminals:
            return idle(NAME, "none")
        who = ", ".join(sorted({f"{t.user}@{t.host or 'local'}" for t in terminals}))
        return idle(NAME, f"{len(terminals)}: {who}", last_active_wall=latest)
