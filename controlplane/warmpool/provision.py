"""What provisioning a pool accepts, checked alike for `POST /warmpool/provision` (its
body) and AdminService's ProvisionWarmPool, so both refuse the same values naming the
same field. A pool names its owner: one team (`team_id`), or every team (`shared`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from ..errors import InvalidArgument
from ..validation import checked_body
from .schemas import PoolRequest

Short = Annotated[str, Field(min_length=1, max_length=64)]
MAX_TARGET = 100


class ProvisionBody(BaseModel):
    gpu_type: Annotated[Short, Field(examples=["H100-80GB"])]
    gpu_count: Annotated[int, Field(ge=1, le=64)] = 1
    region: Annotated[Short, Field(examples=["local"])]
    target: Annotated[int, Field(ge=0, le=MAX_TARGET)] = 1
    """Standby hosts to keep ready."""
    max_idle_s: Annotated[int, Field(ge=0, le=30 * 86400)] = 0
    """Release (and replace) a standby unclaimed this long; 0: never."""
    team_id: Annotated[Short | None, Field(examples=["t-3f2a9c"])] = None
    """The team whose instances the pool serves (its standbys hold only that team's data)."""
    shared: bool = False
    """Serve every team instead: standbys prefetch only encrypted repositories."""

    def request(self) -> PoolRequest:
        """InvalidArgument (field `team_id`, or `shared` when both are given) unless the
        pool has exactly one owner: a team, or everyone (shared)."""
        if self.shared and self.team_id:
            raise InvalidArgument(
                "shared: a pool is one team's (team_id) or shared by every team"
                " (shared=true), not both; drop one",
                field="shared",
            )
        if not self.shared and not self.team_id:
            raise InvalidArgument(
                "team_id: say whose instances the pool serves: team_id=<team id>, or"
                " shared=true for every team's (only encrypted repositories are prefetched)",
                field="team_id",
            )
        return PoolRequest(
            self.gpu_type,
            self.gpu_count,
            self.region,
            self.target,
            self.max_idle_s,
            team_id=self.team_id,
            shared=self.shared,
        )


def checked(**fields: object) -> PoolRequest:
    """The request as ProvisionBody checks it; InvalidArgument naming the first bad field."""
    return checked_body(ProvisionBody, dict(fields), "request").request()
