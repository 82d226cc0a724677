"""Snapshot routes: read, delete, pin one; the team's retention policy."""

from __future__ import annotations

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ..accounts.caller import Caller
from ..instances.schemas import RetentionPolicy, SnapshotView
from ..runtime import ControlPlane
from .error_docs import AUTHENTICATED, errors
from .instance_bodies import KeepForeverBody, RetentionPolicyBody

DOCUMENTED = errors(*AUTHENTICATED)
FORGETTING = errors(*AUTHENTICATED, 503)
"""Forgetting goes through the instance's provider, which may not answer."""


class SnapshotController(Controller):
    path = "/api/v1/snapshots"
    tags = ["snapshots"]

    @get(
        "/retention-policy",
        summary="How many snapshots the team keeps per instance",
        responses=DOCUMENTED,
    )
    async def get_retention_policy(
        self, control_plane: NamedDependency[ControlPlane], caller: NamedDependency[Caller]
    ) -> RetentionPolicy:
        return await control_plane.services.snapshots.policy(caller)

    @put(
        "/retention-policy",
        summary="Change the team's retention policy (owners)",
        responses=DOCUMENTED,
    )
    async def put_retention_policy(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        data: JSONBody[RetentionPolicyBody],
    ) -> RetentionPolicy:
        return await control_plane.services.snapshots.set_policy(caller, data.policy())

    @get("/{snapshot_id:str}", summary="One snapshot", responses=DOCUMENTED)
    async def get_snapshot(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        snapshot_id: FromPath[str],
    ) -> SnapshotView:
        return await control_plane.services.snapshots.get(caller, snapshot_id)

    @delete(
        "/{snapshot_id:str}", status_code=200, summary="Forget a snapshot", responses=FORGETTING
    )
    async def delete_snapshot(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        snapshot_id: FromPath[str],
    ) -> SnapshotView:
        """409 for a pinned snapshot, or the latest of a hibernated instance."""
        return await control_plane.services.snapshots.delete(caller, snapshot_id)

    @post(
        "/{snapshot_id:str}/keep-forever",
        status_code=200,
        summary="Pin or unpin",
        responses=DOCUMENTED,
    )
    async def keep_forever(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        snapshot_id: FromPath[str],
        data: JSONBody[KeepForeverBody],
    ) -> SnapshotView:
        return await control_plane.services.snapshots.keep_forever(
            caller, snapshot_id, data.keep_forever
        )
