"""Checks on what a user asks for, each naming the field that is wrong."""

from __future__ import annotations

from dataclasses import asdict

from ..errors import InvalidArgument
from .schemas import IdlePolicy, InstanceSpec, SnapshotSchedule

MAX_GPU_COUNT = 64
MAX_NAME_LENGTH = 255
MIN_SNAPSHOT_EVERY_S = 60
MAX_WINDOW_S = 7 * 24 * 3600


def validate_spec(spec: InstanceSpec) -> None:
    if not spec.gpu_type.strip():
        raise InvalidArgument(
            "gpu_type is required, e.g. H100; see GET /api/v1/offers", field="gpu_type"
        )
    if not 1 <= spec.gpu_count <= MAX_GPU_COUNT:
        raise InvalidArgument(f"gpu_count must be 1..{MAX_GPU_COUNT}", field="gpu_count")
    if not spec.region.strip():
        raise InvalidArgument("region is required; see GET /api/v1/offers", field="region")
    if len(spec.name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"name must be at most {MAX_NAME_LENGTH} characters", field="name")
    validate_idle_policy(spec.idle_policy)
    validate_schedule(spec.snapshot_schedule)


def validate_idle_policy(policy: IdlePolicy) -> None:
    for name, value in asdict(policy).items():
        if isinstance(value, bool) or value is None or isinstance(value, list):
            continue
        field = f"idle_policy.{name}"
        if value < 0:
            raise InvalidArgument(f"{field} must not be negative", field=field)
        if name.endswith("_percent") and value > 100:
            raise InvalidArgument(f"{field} must be 0..100", field=field)
        if name in ("window_s", "grace_s") and value > MAX_WINDOW_S:
            raise InvalidArgument(f"{field} must be at most {MAX_WINDOW_S}", field=field)
    names = policy.process_allow_list or []
    if any(not name.strip() for name in names):
        raise InvalidArgument(
            "idle_policy.process_allow_list must not hold empty names",
            field="idle_policy.process_allow_list",
        )


def validate_schedule(schedule: SnapshotSchedule) -> None:
    if schedule.every_s is not None and schedule.every_s < MIN_SNAPSHOT_EVERY_S:
        raise InvalidArgument(
            f"snapshot_schedule.every_s must be at least {MIN_SNAPSHOT_EVERY_S}",
            field="snapshot_schedule.every_s",
        )
