"""The local provider: real `torpor-agent` processes on this machine, from a real control
plane, with simulated GPUs, leases on disk that survive a restart, and a wake that works
only because the snapshot carried the data."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from tests.support.controlplane import disconnected
from torpor.controlplane.errors import InvalidArgument, Unavailable
from torpor.controlplane.fleet.schemas import Command, Restore, TakeSnapshot
from torpor.controlplane.providers.base import HostSpec
from torpor.controlplane.providers.local import LocalProvider, LocalSettings
from torpor.controlplane.providers.local.nvml import NvmlBuildError, build_nvml_double
from torpor.controlplane.runtime import ControlPlane

pytestmark = pytest.mark.integration

H100X8 = HostSpec("H100-80GB", 8, "local", instance_id="i-test")
COMMAND_TIMEOUT_S = 60.0


@pytest.fixture
async def provider(control_plane: ControlPlane) -> AsyncIterator[LocalProvider]:
    local = cast(LocalProvider, control_plane.services.providers.get())
    yield local
    hosts = [lease.host_id for lease in local._leases.all() if lease.host_id]
    await local.stop_all()
    for host_id in hosts:  # recorded before the control plane stops (see disconnected)
        await disconnected(control_plane.services, host_id)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/cmdline").read_bytes() != b""  # not a zombie


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def host_files_exist(workspace: Path, log: Path) -> bool:
    return workspace.is_dir() and log.is_file()


def gcc_builds(root: Path) -> bool:
    try:
        build_nvml_double(root / "nvml")
    except NvmlBuildError:
        return False
    return True


async def test_offers_come_from_the_price_table(control_plane: ControlPlane) -> None:
    offers = await control_plane.services.providers.offers()
    assert control_plane.services.providers.names == ["local"]
    assert any(o.gpu_type == "H100-80GB" and o.gpu_count == 8 for o in offers)


async def test_acquire_starts_a_connected_agent_with_its_gpus_and_release_removes_it(
    control_plane: ControlPlane, provider: LocalProvider, tmp_path: Path
) -> None:
    placement = await provider.acquire(H100X8, request_id="req-1")
    services = control_plane.services
    assert services.hub.is_connected(placement.host_id)
    assert placement.offer.price_per_hour_cents == 9832
    workspace, log = Path(placement.details["workspace"]), Path(placement.details["log"])
    assert host_files_exist(workspace, log)
    host = await services.hosts.get(placement.host_id)
    assert host.labels["lease"] == placement.lease_id
    if gcc_builds(tmp_path):
        assert len(host.gpus) == 8
        assert {gpu["name"] for gpu in host.gpus} == {"NVIDIA H100 80GB HBM3"}

    again = await provider.acquire(H100X8, request_id="req-1")
    assert (again.lease_id, again.host_id) == (placement.lease_id, placement.host_id)
    [lease] = provider._leases.all()  # one lease, one process
    assert lease.pid is not None and alive(lease.pid)

    await provider.release(placement.lease_id)
    assert not alive(lease.pid)
    assert not workspace.parent.exists()
    assert provider._leases.all() == []
    await provider.release(placement.lease_id)  # twice: nothing to do
    await provider.release("local-000000000000")  # unknown: nothing to do


async def test_release_ends_a_workload_that_left_the_agents_process_group(
    provider: LocalProvider,
) -> None:
    """`confirms_release` holds only if nothing of the host runs after a release: a job
    started with setsid (and orphaned, as a user's nohup job is) is outside the agent's
    process group, yet works in the host's folder."""
    placement = await provider.acquire(H100X8, request_id="req-setsid")
    workspace = Path(placement.details["workspace"])
    started = await asyncio.create_subprocess_exec(
        "sh", "-c", "setsid sleep 600 >/dev/null 2>&1 & echo $!",
        cwd=workspace, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await started.communicate()
    job = int(out)
    try:
        for _ in range(100):  # until it has exec'd (its cmdline is empty mid-exec)
            if b"sleep" in cmdline(job):
                break
            await asyncio.sleep(0.05)
        assert alive(job)
        await provider.release(placement.lease_id)
        assert not alive(job)
        assert not workspace.parent.exists()
    finally:
        if alive(job):
            os.kill(job, signal.SIGKILL)


async def test_a_new_provider_over_the_same_root_finds_the_lease(
    control_plane: ControlPlane, provider: LocalProvider
) -> None:
    placement = await provider.acquire(HostSpec("L4", 1, "local"), request_id="req-restart")
    [lease] = provider._leases.all()
    await provider.close()  # a control-plane restart: the agent keeps running
    assert lease.pid is not None and alive(lease.pid)

    services = control_plane.services
    restarted = LocalProvider(
        provider._settings, services.join_tokens, services.hosts, services.hub
    )
    again = await restarted.acquire(HostSpec("L4", 1, "local"), request_id="req-restart")
    assert (again.lease_id, again.host_id) == (placement.lease_id, placement.host_id)
    assert restarted._leases.all()[0].pid == lease.pid  # found, not started twice

    os.kill(lease.pid, signal.SIGKILL)  # the host's agent died while nobody watched
    for _ in range(200):  # dead, not merely signalled (a kill is delivered asynchronously)
        if not alive(lease.pid):
            break
        await asyncio.sleep(0.01)
    revived = await restarted.acquire(HostSpec("L4", 1, "local"), request_id="req-restart")
    assert revived.host_id == placement.host_id  # same folder, same credential, same host
    [lease] = restarted._leases.all()
    assert lease.pid is not None and alive(lease.pid)
    assert services.hub.is_connected(revived.host_id)

    await restarted.release(placement.lease_id)
    assert not alive(lease.pid)
    assert provider._leases.all() == []


async def test_a_wake_on_a_new_host_restores_what_the_released_host_saved(
    control_plane: ControlPlane, provider: LocalProvider
) -> None:
    hub = control_plane.services.hub
    spec = HostSpec("A100-80GB", 1, "local", instance_id="i-wake")
    first = await provider.acquire(spec, request_id="wake-1")
    notes = Path(first.details["workspace"]) / "notes" / "day1.txt"
    notes.parent.mkdir()
    notes.write_text("work that must survive\n")
    taken = await hub.send_command(first.host_id, Command(TakeSnapshot("hibernate")), 60)
    assert taken.ok, taken.error
    await provider.release(first.lease_id)
    assert not notes.exists()

    second = await provider.acquire(spec, request_id="wake-2")
    assert second.host_id != first.host_id
    assert second.details["repository"] == first.details["repository"]
    restored = await hub.send_command(second.host_id, Command(Restore(taken.snapshot_id)), 60)
    assert restored.ok, restored.error
    woken = Path(second.details["workspace"]) / "notes" / "day1.txt"
    assert woken.read_text() == "work that must survive\n"


async def test_a_spec_no_offer_has_is_refused_before_anything_starts(
    provider: LocalProvider,
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await provider.acquire(HostSpec("H100-80GB", 3, "local"), request_id="bad")
    assert caught.value.field == "gpu_count"
    assert provider._leases.all() == []


async def test_an_agent_that_cannot_connect_is_cleaned_up_and_reported(
    control_plane: ControlPlane, provider: LocalProvider
) -> None:
    services = control_plane.services
    unreachable = LocalProvider(
        LocalSettings(
            root=provider._settings.root,
            control_plane_address="127.0.0.1:9",  # nothing listens on the discard port
            simulate_gpus=False,
            start_timeout_s=2,
        ),
        services.join_tokens,
        services.hosts,
        services.hub,
    )
    with pytest.raises(Unavailable) as caught:
        await unreachable.acquire(HostSpec("L4", 1, "local"), request_id="lost")
    assert "did not connect" in caught.value.message and "\n" not in caught.value.message
    assert unreachable._leases.all() == []
    assert not any((provider._settings.root / "hosts").iterdir())
