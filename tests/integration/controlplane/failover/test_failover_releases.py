"""Which hosts a failover lets go, and when (scripted agents on real gRPC streams, the paper
provider placing them): a partitioned old host whose release cannot be confirmed has
fenced itself before the new one is assigned; an internal error gives the new host back,
and both hosts when it strikes before the old one is released."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.accounts import sign_up
from tests.support.http import running_api
from tests.support.instances import PaperProvider, accept_assign, lifecycle_settings, next_command
from torpor.common.timestamps import utc_now
from torpor.controlplane.db.models import HostRow, InstanceRow, OperationRow
from torpor.controlplane.errors import Unavailable

from .test_failover import Fleet, answer, fleet

pytestmark = pytest.mark.integration
__all__ = ["fleet"]


async def test_an_unconfirmed_old_host_has_fenced_itself_before_the_new_one_is_assigned(
    tmp_path: Path, database_url: str
) -> None:
    settings = lifecycle_settings(
        tmp_path,
        database_url,
        heartbeat_ttl_s=1.0,
        heartbeat_grace_s=0.5,
        fence_after_s=2.0,
        fence_margin_s=1.0,
    )
    async with running_api(settings) as api:
        paper = PaperProvider()
        api.services.providers.register(paper)
        fleet = Fleet(api, paper, await sign_up(api.http), [])
        old = await fleet.host()
        instance = await fleet.running(old)
        new = await fleet.host()

        async def cloud_api_down(lease_id: str, *, lost: bool = False) -> None:
            raise Unavailable("the cloud API did not answer")

        paper.release = cloud_api_down  # type: ignore[method-assign]
        await old.close()  # partitioned: no Fence reaches it, its release is not confirmed
        assign = await next_command(new)
        assigned_at = utc_now()
        assert assign.WhichOneof("kind") == "assign"
        async with api.services.sessions() as session:
            host = await session.get(HostRow, old.host_id)
        assert host is not None and host.last_heartbeat_at is not None
        assert assigned_at >= host.last_heartbeat_at + timedelta(seconds=3.0)
        await answer(new, assign)
        kinds = await fleet.kinds_after(instance["id"], "failover.waiting_for_fence")
        assert "instance.release_failed" in kinds
        await new.close()
    for channel in fleet.channels:
        await channel.close()


async def test_an_internal_error_in_a_failover_gives_the_new_host_back(fleet: Fleet) -> None:
    old = await fleet.host()
    instance = await fleet.running(old)
    new = await fleet.host()

    async def broken(operation: OperationRow, row: InstanceRow) -> str:
        raise RuntimeError("a bug")

    fleet.api.services.operations.replace_step("failover", "configure", broken)
    await old.close()
    await accept_assign(new)
    await answer(new, await next_command(new))  # the restore
    await fleet.kinds_after(instance["id"], "instance.failover_failed")
    seen = await fleet.settled(instance["id"], "hibernated")
    assert seen["host_id"] is None
    assert sorted(fleet.paper.released) == ["lease-1", "lease-2"]
    status = (
        await fleet.api.http.get(
            f"/api/v1/failover/status/{instance['id']}", headers=fleet.owner.headers
        )
    ).json()
    assert [(p["epoch"], p["end_reason"]) for p in status["placements"]] == [
        (2, "failover_failed"),
        (1, "failed_over"),
    ]
    await new.close()


async def test_an_internal_error_before_the_old_host_is_released_gives_both_back(
    fleet: Fleet,
) -> None:
    """Stopping between choosing the target and releasing the old host: the instance ends
    unplaced, so neither its new host nor its old one is kept (or paid for)."""
    old = await fleet.host()
    instance = await fleet.running(old)
    new = await fleet.host()

    async def broken(operation: OperationRow, row: InstanceRow) -> str:
        raise RuntimeError("a bug")

    fleet.api.services.operations.replace_step("failover", "release_old", broken)
    await old.close()
    await fleet.kinds_after(instance["id"], "instance.failover_failed")
    seen = await fleet.settled(instance["id"], "hibernated")
    assert seen["host_id"] is None
    assert sorted(fleet.paper.released) == ["lease-1", "lease-2"]
    await new.close()
