"""`[preemption]`: where this host learns that it is about to be taken away."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError


class PreemptionSection(BaseModel):
    """`[preemption]`: one source per host; `none` by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["none", "aws-imds", "file", "signal"] = "none"
    """`aws-imds`: EC2 spot instance-action through IMDSv2; `file`: `path` appears;
    `signal`: the agent receives `signal`."""
    path: Path | None = None
    """`file`: the file whose appearance is the notice; its content, if any, is the deadline
    (ISO 8601) or the seconds left."""
    imds_url: str = "http://169.254.169.254"
    """`aws-imds`: the instance metadata service's base URL."""
    poll_s: float = Field(default=5.0, gt=0, le=60)
    """`aws-imds`, `file`: how often to look (AWS gives two minutes' notice)."""
    notice_s: float = Field(default=120.0, gt=0)
    """`file` without a deadline in it, `signal`: the seconds left after the notice."""
    signal: str = "SIGUSR1"
    """`signal`: the signal's name."""

    @field_validator("signal")
    @classmethod
    def _check_signal(cls, name: str) -> str:
        if name not in signal.Signals.__members__ or name in ("SIGTERM", "SIGINT", "SIGKILL"):
            raise PydanticCustomError(
                "signal", "expected a signal name such as SIGUSR1, got '{name}'", {"name": name}
            )
        return name

    @model_validator(mode="after")
    def _check_path(self) -> Self:
        if self.source == "file" and self.path is None:
            raise PydanticCustomError("path", "source = 'file' needs path")
        return self
