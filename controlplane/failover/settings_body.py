"""What the failover settings accept, checked alike for `PUT /failover/settings/global`,
`PUT /instances/{id}/failover/settings` (their bodies) and AdminService's
UpdateFailoverSettings, so all refuse the same values naming the same field."""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import BaseModel, Field, field_validator

from ..validation import checked_body
from .policy import FailoverSettings, SettingsOverride

MAX_PERIOD_S = 7 * 86400
Period = Annotated[int, Field(ge=0, le=MAX_PERIOD_S)]
"""0: no periodic snapshots; else at least a minute (checked below, naming the field)."""
Age = Annotated[int, Field(ge=60, le=MAX_PERIOD_S)]
Body = TypeVar("Body", bound=BaseModel)


def _period(value: int | None) -> int | None:
    if value is not None and 0 < value < 60:
        raise ValueError("snapshot_every_s must be 0 (off) or at least 60")
    return value


class GlobalSettingsBody(BaseModel):
    """An unset field takes its default."""

    _check_period = field_validator("snapshot_every_s")(_period)

    enabled: bool = True
    allow_other_region: bool = False
    snapshot_every_s: Period = FailoverSettings.snapshot_every_s
    max_snapshot_age_s: Age = FailoverSettings.max_snapshot_age_s

    def settings(self) -> FailoverSettings:
        return FailoverSettings(**self.model_dump())


class InstanceSettingsBody(BaseModel):
    """Unset (null) fields inherit the global settings."""

    _check_period = field_validator("snapshot_every_s")(_period)

    enabled: bool | None = None
    allow_other_region: bool | None = None
    snapshot_every_s: Period | None = None
    max_snapshot_age_s: Age | None = None

    def overrides(self) -> SettingsOverride:
        return SettingsOverride(**self.model_dump())


def checked(model: type[Body], fields: dict[str, object]) -> Body:
    """`fields` as `model` checks them; InvalidArgument naming the first bad field."""
    return checked_body(model, fields, "values")
