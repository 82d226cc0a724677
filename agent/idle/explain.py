"""How a decision reads to a person (`torpor-agent status`), and the status file it comes from.

`status` runs in its own process, so the agent writes its latest decision to
`<state_dir>/status.json` (atomically) at every poll; a file older than a few polls means
the agent is not running, and `status` says so instead of showing an old verdict.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torpor.common.atomic import atomic_write_text

from .decision import Decision, SignalStatus
from .verdict import Verdict

STATUS_FILE = "status.json"
STALE_POLLS = 5
"""A status file older than this many poll intervals (at least 10 s) is stale."""
MIN_STALE_S = 10.0


def duration(seconds: float) -> str:
    """e.g. "12m 30s", "2h 5m", "45s"."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def summary(decision: Decision) -> str:
    """One line: "hibernation in 12m 30s" or "not idle: gpu0.utilisation 37% (busy)"."""
    if decision.idle:
        return "idle for the whole window: hibernation is up to the control plane"
    blockers = decision.blockers()
    if blockers:
        return "not idle: " + "; ".join(_reason(s) for s in blockers)
    if decision.hibernate_in_s is not None:
        return f"hibernation in {duration(decision.hibernate_in_s)}"
    return "not idle"


def _reason(status: SignalStatus) -> str:
    detail = f", {status.detail}" if status.detail else ""
    return f"{status.name} {status.value} ({status.verdict.value}{detail})"


def table(decision: Decision) -> str:
    """Every signal: its value, its verdict, how long it has been idle, and what is needed."""
    header = ("SIGNAL", "VALUE", "VERDICT", "IDLE FOR", "NEEDED")
    rows = [header, *(_row(s, decision.window_s) for s in decision.signals)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _row(status: SignalStatus, window_s: float) -> tuple[str, str, str, str, str]:
    idle_for = "-" if status.idle_for_s is None else duration(status.idle_for_s)
    needed = "left out" if status.verdict is Verdict.NOT_SUPPORTED else duration(window_s)
    verdict = status.verdict.value
    if status.detail and status.verdict is not Verdict.IDLE:
        verdict = f"{verdict}: {status.detail}"
    return status.name, status.value, verdict, idle_for, needed


def write_status(state_dir: Path, decision: Decision, now_wall: float, poll_s: float) -> None:
    body = {
        "written_wall": now_wall,
        "pid": os.getpid(),
        "poll_interval_s": poll_s,
        "decision": decision.to_dict(),
    }
    atomic_write_text(state_dir / STATUS_FILE, json.dumps(body), mode=0o644)


@dataclass(frozen=True)
class StatusFile:
    decision: Decision
    age_s: float
    stale: bool


class NoStatus(Exception):
    """No usable status file; `str()` tells the user what it means."""


def read_status(state_dir: Path, now_wall: float) -> StatusFile:
    """Raises NoStatus when the agent has never written one (or it cannot be read)."""
    path = state_dir / STATUS_FILE
    try:
        body: dict[str, Any] = json.loads(path.read_text())
        decision = Decision.from_dict(body["decision"])
    except FileNotFoundError:
        raise NoStatus(
            f"no idle status at {path}: the agent is not running, or has not polled yet"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise NoStatus(f"cannot read {path}: {error}") from None
    age_s = max(0.0, now_wall - float(body["written_wall"]))
    limit_s = max(MIN_STALE_S, STALE_POLLS * float(body.get("poll_interval_s", 1.0)))
    return StatusFile(decision, age_s, age_s > limit_s)
