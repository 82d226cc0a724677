"""The assignment this host holds, kept in the state directory across restarts.

A restarted agent must still know which instance and epoch it serves (it says so in
Hello, and refuses older epochs), and whether it was fenced: a fenced host that forgot
it after a crash would take snapshots again. So the file is replaced atomically (temp,
fsync, rename) on every change: a crash leaves the old state or the new, never half.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from torpor.common.atomic import atomic_write_text
from torpor.proto.v1 import agent_pb2

from ..errors import PermanentError

ASSIGNMENT_FILE = "assignment.json"
FILE_MODE = 0o600


@dataclass(frozen=True)
class HeldAssignment:
    """One placement of an instance on this host, and whether it was fenced since."""

    instance_id: str
    epoch: int
    repository: str = ""
    fence_after_ms: int = 0
    fenced: bool = False
    fence_reason: str = ""
    repository_key: str = field(default="", repr=False)
    """Hex of the repository's 32-byte key secret (empty: unencrypted); this file is 0600."""

    @classmethod
    def from_proto(cls, message: agent_pb2.Assignment) -> HeldAssignment:
        return cls(
            instance_id=message.instance_id,
            epoch=message.epoch,
            repository=message.repository,
            fence_after_ms=message.fence_after_ms,
            repository_key=message.repository_key.hex(),
        )

    def to_proto(self) -> agent_pb2.Assignment:
        """For Hello: the key is never sent back (the control plane holds it)."""
        return agent_pb2.Assignment(
            instance_id=self.instance_id,
            epoch=self.epoch,
            repository=self.repository,
            fence_after_ms=self.fence_after_ms,
        )

    def fence(self, reason: str) -> HeldAssignment:
        return replace(self, fenced=True, fence_reason=reason)


class AssignmentStore:
    """`<state_dir>/assignment.json`: absent while the host serves no instance."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / ASSIGNMENT_FILE

    def load(self) -> HeldAssignment | None:
        """The stored assignment, or None.

        Raises:
            PermanentError: the file exists but cannot be read or parsed (a hand-edited or
                damaged file must not be taken for "no assignment": that would unfence).
        """
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            held = HeldAssignment(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as error:
            raise PermanentError(
                f"cannot read the held assignment in {self.path} ({error}); the control plane "
                "re-sends it: remove the file only if this host serves no instance any more"
            ) from error
        if not isinstance(held.epoch, int) or not held.instance_id:
            raise PermanentError(f"{self.path}: instance_id and an integer epoch are required")
        return held

    def save(self, held: HeldAssignment) -> None:
        """Replaces the stored assignment atomically and durably."""
        atomic_write_text(self.path, json.dumps(asdict(held), sort_keys=True) + "\n", FILE_MODE)
