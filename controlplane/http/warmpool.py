"""Operator routes over the warm pools. Thin: the rules live in warmpool/service.py."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from ..runtime import ControlPlane
from ..warmpool.provision import ProvisionBody
from ..warmpool.schemas import PoolStatus, PoolView, StandbyView
from .caller import require_operator_or_admin
from .error_docs import errors

OPERATOR = errors(401, 403)
ONE_POOL = errors(401, 403, 404)


class WarmPoolController(Controller):
    path = "/api/v1/warmpool"
    tags = ["warm pools"]
    guards = [require_operator_or_admin]

    @post(
        "/provision",
        summary="Create (201) or update (200) the pool of a GPU type, count and region",
        responses=errors(401, 403, 503),
    )
    async def provision(
        self, control_plane: NamedDependency[ControlPlane], data: JSONBody[ProvisionBody]
    ) -> Response[PoolView]:
        view, created = await control_plane.services.warmpool.provision(data.request())
        return Response(view, status_code=201 if created else 200)

    @post(
        "/enable/{pool_id:str}", status_code=200, summary="Keep the pool filled", responses=ONE_POOL
    )
    async def enable(
        self, control_plane: NamedDependency[ControlPlane], pool_id: FromPath[str]
    ) -> PoolView:
        return await control_plane.services.warmpool.set_enabled(pool_id, True)

    @post(
        "/disable/{pool_id:str}",
        status_code=200,
        summary="Release the pool's standbys (the pool stays, target kept)",
        responses=ONE_POOL,
    )
    async def disable(
        self, control_plane: NamedDependency[ControlPlane], pool_id: FromPath[str]
    ) -> PoolView:
        return await control_plane.services.warmpool.set_enabled(pool_id, False)

    @get(
        "/hosts",
        summary="Every standby host, its pool, state and prefetched snapshots",
        responses=ONE_POOL,
    )
    async def hosts(
        self,
        control_plane: NamedDependency[ControlPlane],
        pool_id: Annotated[str | None, QueryParameter(name="pool", max_length=64)] = None,
    ) -> list[StandbyView]:
        return await control_plane.services.warmpool.hosts(pool_id)

    @get("/pools", summary="Every pool with its status", responses=errors(401, 403, 503))
    async def pools(self, control_plane: NamedDependency[ControlPlane]) -> list[PoolStatus]:
        return await control_plane.services.warmpool.statuses()

    @get(
        "/status/{pool_id:str}",
        summary="Target, ready, acquiring, claimed, standby cost so far",
        responses=ONE_POOL,
    )
    async def status(
        self, control_plane: NamedDependency[ControlPlane], pool_id: FromPath[str]
    ) -> PoolStatus:
        return await control_plane.services.warmpool.status(pool_id)

    @delete(
        "/cleanup/{pool_id:str}",
        summary="Release the pool's standbys and delete the pool (409 while one is mid-claim)",
        responses=errors(401, 403, 404, 409, 503),
    )
    async def cleanup(
        self, control_plane: NamedDependency[ControlPlane], pool_id: FromPath[str]
    ) -> None:
        await control_plane.services.warmpool.cleanup(pool_id)
