"""LeaseRecord records: what the local provider started, on disk so a restart finds it again.

One JSON file per lease, replaced atomically (temp, fsync, rename), written before the
agent starts: a control plane that dies at any point leaves a record that `acquire` with
the same request id resumes, or `release` cleans up.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from torpor.common.atomic import atomic_write_text, fsync_directory

SUFFIX = ".json"


@dataclass
class LeaseRecord:
    lease_id: str
    request_id: str
    instance_id: str
    gpu_type: str
    gpu_count: int
    region: str
    price_per_hour_cents: int
    created_at: str
    join_token: str
    """Single use, already spent once the agent joined; kept to find the host it created."""
    gpu_simulated: bool
    pid: int | None = None
    """The agent's process (and process group) id; checked against its command line."""
    host_id: str = ""
    """Known once the agent joined."""

    def __repr__(self) -> str:  # never log the join token
        return f"LeaseRecord({self.lease_id!r}, request={self.request_id!r}, host={self.host_id!r})"


class LeaseStore:
    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def _path(self, lease_id: str) -> Path:
        return self._folder / f"{lease_id}{SUFFIX}"

    def put(self, lease: LeaseRecord) -> None:
        atomic_write_text(self._path(lease.lease_id), json.dumps(asdict(lease), indent=2))

    def get(self, lease_id: str) -> LeaseRecord | None:
        try:
            return LeaseRecord(**json.loads(self._path(lease_id).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None

    def all(self) -> list[LeaseRecord]:
        if not self._folder.is_dir():
            return []
        paths = sorted(self._folder.glob(f"*{SUFFIX}"))
        return [LeaseRecord(**json.loads(path.read_text(encoding="utf-8"))) for path in paths]

    def by_request(self, request_id: str) -> LeaseRecord | None:
        return next((lease for lease in self.all() if lease.request_id == request_id), None)

    def delete(self, lease_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(lease_id).unlink()
            fsync_directory(self._folder)
