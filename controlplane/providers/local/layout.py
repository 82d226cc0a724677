"""Where the local provider keeps everything, under one root (`TORPOR_LOCAL_ROOT`):

<root>/leases/<lease id>.json     one record per host (leases.py)
<root>/hosts/<lease id>/          the host: agent.toml, agent.log, gpus.txt,
                                  state/ (credential), workspace/
<root>/snapshots/<instance id>/   the instance's snapshot repository; outlives hosts,
                                  so the wake host restores what the last one saved
<root>/nvml/                      the NVML double, built once per source
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostLayout:
    """The paths of one local host."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "agent.toml"

    @property
    def log(self) -> Path:
        return self.folder / "agent.log"

    @property
    def gpus(self) -> Path:
        return self.folder / "gpus.txt"

    @property
    def state(self) -> Path:
        return self.folder / "state"

    @property
    def workspace(self) -> Path:
        return self.folder / "workspace"


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def leases(self) -> Path:
        return self.root / "leases"

    @property
    def nvml(self) -> Path:
        return self.root / "nvml"

    def host(self, lease_id: str) -> HostLayout:
        return HostLayout(self.root / "hosts" / lease_id)

    def repository(self, instance_id: str) -> Path:
        return self.root / "snapshots" / instance_id
