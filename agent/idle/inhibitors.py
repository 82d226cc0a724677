"""Inhibitors: "keep this machine up" from a user, like `systemd-inhibit`.

Two kinds. Records made by `torpor-agent inhibit --for 2h --why ...`, one JSON file each
under `<state_dir>/inhibitors/`, written atomically and expiring on their own (wall time:
the CLI and the agent are different processes). And a lock file a user script holds with
`flock`; the agent sees it held when its own non-blocking flock fails, and lets go at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from torpor.common.atomic import atomic_write_text

from .verdict import SignalReading, busy, idle, unknown

NAME = "inhibitors"
RECORDS_DIR = "inhibitors"
LOCK_FILE = "inhibit.lock"


@dataclass(frozen=True)
class Inhibitor:
    id: str
    why: str
    who: str
    created_wall: float
    expires_wall: float


class InhibitorStore:
    """Inhibitor records in one directory; expired ones are ignored and pruned."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / RECORDS_DIR

    def add(self, why: str, duration_s: float, now_wall: float, who: str = "") -> Inhibitor:
        inhibitor = Inhibitor(
            f"inh-{secrets.token_hex(4)}", why, who or _user(), now_wall, now_wall + duration_s
        )
        # Readable by all: `status` and `inhibit --list` run as any user.
        atomic_write_text(self._path(inhibitor.id), json.dumps(asdict(inhibitor)), mode=0o644)
        return inhibitor

    def active(self, now_wall: float) -> list[Inhibitor]:
        """Unexpired inhibitors, soonest expiry first; expired records are removed."""
        found = []
        for path in sorted(self.directory.glob("inh-*.json")):
            try:
                inhibitor = Inhibitor(**json.loads(path.read_text()))
            except FileNotFoundError:
                continue  # released meanwhile
            if inhibitor.expires_wall <= now_wall:
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            found.append(inhibitor)
        return sorted(found, key=lambda each: each.expires_wall)

    def release(self, inhibitor_id: str) -> bool:
        """False when there was no such inhibitor."""
        if not inhibitor_id.startswith("inh-") or "/" in inhibitor_id:
            return False
        try:
            self._path(inhibitor_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def _path(self, inhibitor_id: str) -> Path:
        return self.directory / f"{inhibitor_id}.json"


def _user() -> str:
    return os.environ.get("SUDO_USER") or os.environ.get("USER") or str(os.getuid())


def lock_is_held(path: Path) -> bool:
    """True while another process holds `path` with flock; a missing file is not held.

    Raises:
        OSError: the file exists but cannot be opened (the caller counts that as unknown).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also releases our own lock at once
    return False


def inhibitor_reading(store: InhibitorStore, lock_path: Path, now_wall: float) -> SignalReading:
    """One reading for both kinds: any held inhibitor keeps the machine busy."""
    try:
        records = store.active(now_wall)
        locked = lock_is_held(lock_path)
    except (OSError, ValueError, TypeError) as error:
        return unknown(NAME, f"inhibitors cannot be read: {error}")
    reasons = [f"{each.why!r} by {each.who}" for each in records]
    if locked:
        reasons.append(f"lock {lock_path} held")
    if reasons:
        return busy(NAME, f"{len(reasons)} held", "; ".join(reasons))
    return idle(NAME, "none")
