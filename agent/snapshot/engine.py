"""What the daemon's snapshot commands need from the engine, and what they report back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .prefetch import Prefetched


@dataclass(frozen=True)
class Taken:
    """A snapshot just written: its id and the sizes the control plane records."""

    snapshot_id: str
    files: int = 0
    bytes: int = 0
    new_bytes: int = 0
    seconds: float = 0.0

    def outputs(self) -> dict[str, str]:
        """CommandResult.outputs: strings on the wire, bytes as plain integers."""
        return {
            "files": str(self.files),
            "bytes": str(self.bytes),
            "new_bytes": str(self.new_bytes),
            "seconds": f"{self.seconds:.2f}",
        }


@dataclass(frozen=True)
class Restored:
    """A snapshot restored into the workspace."""

    snapshot_id: str
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def outputs(self) -> dict[str, str]:
        return {
            "files": str(self.files),
            "bytes": str(self.bytes),
            "seconds": f"{self.seconds:.2f}",
        }


class SnapshotEngine(Protocol):
    """The agent's one snapshot engine; every method blocks and raises on failure with a
    one-line message. Implementations run one operation at a time: a manual snapshot, the
    hibernate snapshot and a restore never overlap on the same workspace."""

    def create(self, tag: str) -> Taken:
        """The hibernate trigger's final snapshot."""
        ...

    def take(self, tags: list[str], *, keep: bool) -> Taken:
        """A snapshot now (pinned when `keep`)."""
        ...

    def restore(self, reference: str, repository: str = "", key: bytes = b"") -> Restored:
        """Restores `reference` into the workspace, which must be empty. `repository`
        (a URL; empty: the configured one) is where it and later snapshots live; `key` its
        32-byte key secret (empty: the assignment's, or none)."""
        ...

    def prefetch(
        self,
        references: list[str],
        repository: str = "",
        key: bytes = b"",
        *,
        instance_id: str = "",
        require_encrypted: bool = False,
    ) -> Prefetched:
        """Caches the chunks of these snapshots locally (a warm standby), in the partition
        of `instance_id`; refuses an unencrypted repository when `require_encrypted`."""
        ...
