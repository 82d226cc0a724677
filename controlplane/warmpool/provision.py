"""What provisioning a pool accepts, checked alike for `POST /warmpool/provision` (its
body) and AdminService's ProvisionWarmPool, so both refuse the same values naming the
same field."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

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

    def request(self) -> PoolRequest:
        return PoolRequest(self.gpu_type, self.gpu_count, self.region, self.target, self.max_idle_s)


def checked(**fields: object) -> PoolRequest:
    """The request as ProvisionBody checks it; InvalidArgument naming the first bad field."""
    return checked_body(ProvisionBody, dict(fields), "request").request()
