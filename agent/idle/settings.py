"""`[idle]`: the idle policy and the hibernate sequence, per host; overridable per instance.

The control plane may override some keys per instance (`IdlePolicyOverride` in Welcome or
a SetIdlePolicy command); `with_override` applies one on top of this section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from torpor.proto.v1 import agent_pb2

DEFAULT_ALLOW_LIST = ["nvidia-persistenced", "nv-hostengine", "dcgm-exporter", "Xorg"]


class IdleSection(BaseModel):
    """`[idle]`: when the machine counts as idle, and what happens before it hibernates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_s: float = Field(default=900, gt=0)
    """Every signal must have been idle this long, without a break."""
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    """How often every signal is read (utilisation also comes from the samples in between)."""
    gpu_util_threshold_percent: float = Field(default=5, ge=0, le=100)
    """A GPU-utilisation sample at or above this is busy."""
    gpu_memory_activity_threshold_percent: float = Field(default=5, ge=0, le=100)
    """GPU memory-controller activity at or above this is busy."""
    gpu_busy_power_watts: float = Field(default=100, gt=0)
    """Average power (from the energy counter) above this is busy; lower it for small GPUs."""
    process_allow_list: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOW_LIST))
    """Executable names whose GPU contexts never count (monitoring daemons, the X server)."""
    resident_inactive_is_idle: bool = False
    """True: a process holding a GPU context but doing no work (an inference server with no
    traffic) counts as idle; the utilisation, memory and energy signals still decide."""
    cpu_threshold_percent: float = Field(default=10, ge=0, le=100)
    """Host CPU use (all cores together) at or above this is busy."""
    network_threshold_bytes_per_s: float = Field(default=100_000, ge=0)
    """Host network traffic (in + out, loopback excluded) at or above this is busy."""
    ssh_sessions: bool = True
    """Watch logged-in terminals: input within the window is busy."""
    jupyter: bool = True
    """Watch Jupyter servers found in the runtime directories (their kernels' activity)."""
    jupyter_runtime_dirs: list[Path] = Field(default_factory=list)
    """Where `jpserver-*.json` files are looked for; empty: every user's default."""
    inhibit_lock_path: Path | None = None
    """A file user scripts hold with `flock` to keep the machine up; unset:
    `<state_dir>/inhibit.lock`."""
    grace_s: float = Field(default=300, ge=0)
    """Between the warning to logged-in users and the hooks; an inhibitor cancels."""
    hooks: list[str] = Field(default_factory=list)
    """Pre-hibernate commands, run in order (e.g. save notebooks)."""
    hooks_dir: Path | None = None
    """A directory of executable hooks, run in name order after `hooks`."""
    hook_timeout_s: float = Field(default=120, gt=0)
    """A hook still running after this is killed and counts as failed."""
    continue_on_hook_failure: bool = False
    """False: a failing hook aborts the hibernation (the snapshot might miss its work)."""


def with_override(section: IdleSection, override: agent_pb2.IdlePolicyOverride) -> IdleSection:
    """`section` with every field the control plane set in `override` replaced."""
    update: dict[str, Any] = {}
    for name in (
        "window_s",
        "gpu_util_threshold_percent",
        "cpu_threshold_percent",
        "network_threshold_bytes_per_s",
        "resident_inactive_is_idle",
        "grace_s",
    ):
        if override.HasField(name):
            update[name] = getattr(override, name)
    if override.HasField("process_allow_list"):
        update["process_allow_list"] = list(override.process_allow_list.names)
    return IdleSection.model_validate(section.model_dump() | update)
