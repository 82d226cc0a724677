"""Request bodies of the instance and snapshot routes. Pydantic checks the shapes, so a bad
value comes back as 400 naming the field; the services check the rest."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from ..instances.schemas import IdlePolicy, InstanceSpec, RetentionPolicy, SnapshotSchedule
from ..instances.validation import MAX_GPU_COUNT, MAX_NAME_LENGTH

Short = Annotated[str, Field(min_length=1, max_length=64)]


class IdlePolicyBody(BaseModel):
    window_s: Annotated[int | None, Field(ge=1)] = None
    gpu_util_threshold_percent: Annotated[float | None, Field(ge=0, le=100)] = None
    cpu_threshold_percent: Annotated[float | None, Field(ge=0, le=100)] = None
    network_threshold_bytes_per_s: Annotated[float | None, Field(ge=0)] = None
    resident_inactive_is_idle: bool | None = None
    process_allow_list: list[Short] | None = None
    grace_s: Annotated[int | None, Field(ge=0)] = None


class SnapshotScheduleBody(BaseModel):
    every_s: Annotated[int | None, Field(ge=60)] = None
    """Take a snapshot this often while running; none: only when hibernating."""


class CreateInstanceBody(BaseModel):
    gpu_type: Annotated[Short, Field(examples=["H100"])]
    gpu_count: Annotated[int, Field(ge=1, le=MAX_GPU_COUNT)] = 1
    region: Annotated[Short, Field(examples=["local"])]
    name: Annotated[str, Field(max_length=MAX_NAME_LENGTH)] = ""
    provider: Short | None = None
    auto_hibernate: bool = True
    idle_policy: IdlePolicyBody = Field(default_factory=IdlePolicyBody)
    snapshot_schedule: SnapshotScheduleBody = Field(default_factory=SnapshotScheduleBody)

    def spec(self) -> InstanceSpec:
        return InstanceSpec(
            gpu_type=self.gpu_type,
            gpu_count=self.gpu_count,
            region=self.region,
            name=self.name,
            provider=self.provider,
            auto_hibernate=self.auto_hibernate,
            idle_policy=IdlePolicy(**self.idle_policy.model_dump()),
            snapshot_schedule=SnapshotSchedule(**self.snapshot_schedule.model_dump()),
        )


class TakeSnapshotBody(BaseModel):
    keep_forever: bool = False


class KeepForeverBody(BaseModel):
    keep_forever: bool = True


class RetentionPolicyBody(BaseModel):
    keep_last: Annotated[int, Field(ge=1, le=10_000)]
    keep_daily: Annotated[int, Field(ge=0, le=10_000)] = 0
    keep_weekly: Annotated[int, Field(ge=0, le=10_000)] = 0

    def policy(self) -> RetentionPolicy:
        return RetentionPolicy(self.keep_last, self.keep_daily, self.keep_weekly)
