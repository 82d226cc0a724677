"""`[fencing]`: what a fenced host does to stop the instance's work."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FencingSection(BaseModel):
    """`[fencing]`: the bound itself comes from the control plane (`fence_after_ms`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hooks: list[str] = Field(default_factory=list)
    """Commands run in order once fenced, after the workspace's processes were ended (e.g.
    detach a volume); each gets TORPOR_INSTANCE_ID, TORPOR_EPOCH, TORPOR_FENCE_REASON."""
    hook_timeout_s: float = Field(default=60.0, gt=0)
    """A hook still running after this many seconds is killed."""
    term_grace_s: float = Field(default=5.0, ge=0, le=300)
    """Seconds between SIGTERM and SIGKILL for the processes working in the workspace."""
