"""Operator routes over agent join tokens (what `torporctl tokens` does over gRPC)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, Field

from ..identity.join_tokens import MAX_NOTE_LENGTH
from ..identity.schemas import JoinTokenInfo
from ..runtime import ControlPlane
from .caller import require_operator_or_admin
from .error_docs import errors

MAX_TTL_S = 366 * 86400


class CreateJoinTokenBody(BaseModel):
    note: Annotated[str, Field(max_length=MAX_NOTE_LENGTH)] = ""
    ttl_s: Annotated[int | None, Field(ge=1, le=MAX_TTL_S)] = None
    """Seconds; unset: TORPOR_JOIN_TOKEN_TTL_S."""


@dataclass(frozen=True)
class CreatedJoinToken:
    token: JoinTokenInfo
    secret: str
    """`tjt_…`, shown this once: put it in the new host's agent.toml."""


class JoinTokenController(Controller):
    path = "/api/v1/join-tokens"
    tags = ["hosts"]
    guards = [require_operator_or_admin]

    @post("/", status_code=201, summary="Create a join token", responses=errors(401, 403))
    async def create_join_token(
        self, control_plane: NamedDependency[ControlPlane], data: JSONBody[CreateJoinTokenBody]
    ) -> CreatedJoinToken:
        ttl_s = data.ttl_s if data.ttl_s is not None else control_plane.settings.join_token_ttl_s
        secret, info = await control_plane.services.join_tokens.issue(ttl_s, data.note)
        return CreatedJoinToken(info, secret)

    @get("/", summary="List join tokens, oldest first", responses=errors(401, 403))
    async def list_join_tokens(
        self, control_plane: NamedDependency[ControlPlane]
    ) -> list[JoinTokenInfo]:
        return await control_plane.services.join_tokens.list()

    @delete(
        "/{token_id:str}",
        status_code=200,
        summary="Revoke a join token",
        responses=errors(401, 403, 404),
    )
    async def revoke_join_token(
        self, control_plane: NamedDependency[ControlPlane], token_id: FromPath[str]
    ) -> JoinTokenInfo:
        return await control_plane.services.join_tokens.revoke(token_id)
