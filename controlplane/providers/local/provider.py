"""The `local` provider: each host is a real `torpor-agent` process on this machine.

acquire: a join token, the host's folder and agent.toml (its own workspace, the instance's
snapshot repository, simulated GPUs), then the agent process; done when its agent has
joined and its stream is up. release: stop the process group (kill it, for a host declared
lost), kill what still works in the host's folder (a job started with setsid), delete the
folder, workspace included, so a wake that works proves the snapshot carried the data.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from torpor.common.timestamps import utc_now

from ...errors import Conflict, Unavailable
from ...fleet.hub import AgentHub
from ...fleet.service import HostService
from ...identity.join_tokens import JoinTokenService
from ...repository_keys.secret import RepositoryKey
from ..base import HostSpec, Lease, Offer
from . import processes, snapshots
from .agent_config import IdleOverrides, render, write_config
from .gpus import write_scenario
from .layout import Layout
from .leases import LeaseRecord, LeaseStore
from .nvml import LIBRARY_NAME, SCENARIO_ENV, NvmlBuildError, build_nvml_double
from .prices import PROVIDER, load_offers, match_offer

log = logging.getLogger(__name__)

JOIN_TOKEN_TTL_S = 600.0
POLL_S = 0.1
LEASE_ID = re.compile(r"^local-[0-9a-f]{12}$")


class RepositoryKeys(Protocol):
    """Where the provider finds an instance's repository key (repository_keys/stored.py)."""

    async def of(self, instance_id: str) -> RepositoryKey | None: ...


class NoRepositoryKeys:
    """Every repository unencrypted: a provider built without the control plane's keys."""

    async def of(self, instance_id: str) -> RepositoryKey | None:
        return None


@dataclass(frozen=True)
class LocalSettings:
    root: Path
    control_plane_address: str
    """host:port of the gRPC listener the agents connect to."""
    price_table: Path | None = None
    simulate_gpus: bool = True
    start_timeout_s: float = 30.0
    stop_timeout_s: float = 10.0
    idle: IdleOverrides = field(default_factory=IdleOverrides)


class LocalProvider:
    name = PROVIDER
    confirms_release = True  # release kills the agent's process group: nothing outlives it

    def __init__(
        self,
        settings: LocalSettings,
        join_tokens: JoinTokenService,
        hosts: HostService,
        hub: AgentHub,
        repository_keys: RepositoryKeys | None = None,
    ) -> None:
        self._settings = settings
        self._keys = repository_keys or NoRepositoryKeys()
        self._layout = Layout(settings.root)
        self._leases = LeaseStore(self._layout.leases)
        self._offers = load_offers(settings.price_table)
        self._join_tokens = join_tokens
        self._hosts = hosts
        self._hub = hub
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._nvml: Path | None = None
        self._nvml_checked = False

    async def offers(self) -> list[Offer]:
        return list(self._offers)

    async def acquire(self, spec: HostSpec, *, request_id: str) -> Lease:
        offer = match_offer(self._offers, spec.gpu_type, spec.gpu_count, spec.region)
        async with self._locks[f"request:{request_id}"]:
            lease = self._leases.by_request(request_id)
            if lease is None:
                lease = await self._new_lease(spec, offer, request_id)
            elif (lease.gpu_type, lease.gpu_count, lease.region) != (
                spec.gpu_type,
                spec.gpu_count,
                spec.region,
            ):
                raise Conflict(
                    f"request {request_id} already placed a {lease.gpu_count}x {lease.gpu_type}"
                    " host: use a new request id for another spec",
                    field="request_id",
                )
            async with self._locks[lease.lease_id]:
                await self._start(lease)
            return self._lease_of(lease, offer)

    async def release(self, lease_id: str, *, lost: bool = False) -> None:
        """Stops the host's agent (SIGTERM, SIGKILL after `stop_timeout_s`; `lost`: SIGKILL
        at once, a frozen agent would only sit out the wait) and deletes its folder."""
        if not LEASE_ID.match(lease_id):
            return  # not one of ours: nothing to release
        async with self._locks[lease_id]:
            lease = self._leases.get(lease_id)
            if lease is not None:
                await self._destroy(lease, lost=lost)

    async def forget_snapshots(self, instance_id: str, snapshot_ids: list[str]) -> None:
        """Through `torpor-agent snapshot forget` on the instance's repository (its key, if
        it has one, in the CLI's environment)."""
        executable = processes.agent_executable()
        repository, key = self._layout.repository(instance_id), await self._keys.of(instance_id)
        await snapshots.forget(executable, repository, snapshot_ids, key)

    async def delete_repository(self, instance_id: str) -> None:
        """Removes the instance's repository folder (nothing else shares it)."""
        repository = self._layout.repository(instance_id)
        await asyncio.to_thread(snapshots.delete_repository, repository)
        log.info("deleted the snapshot repository of instance %s (%s)", instance_id, repository)

    def repository_url(self, instance_id: str) -> str:
        """The instance's repository as any local host can open it (a warm standby restores
        and prefetches from it; warmpool/repositories.py)."""
        return str(self._layout.repository(instance_id))

    async def close(self) -> None:
        """Leaves the agents running: a control-plane restart must not stop instances."""

    async def stop_all(self) -> None:
        """Releases every lease (tests and the demo clean up with this), telling the hub
        first as `ProviderRegistry.release` does: a host stopped on purpose is not lost."""
        for lease in self._leases.all():
            async with self._hub.releasing(lease.host_id or None):
                await self.release(lease.lease_id)

    # ---- acquire ---------------------------------------------------------------------

    async def _new_lease(self, spec: HostSpec, offer: Offer, request_id: str) -> LeaseRecord:
        lease_id = f"local-{uuid.uuid4().hex[:12]}"
        gpus = await self._nvml_folder() is not None
        token = await self._join_tokens.create(JOIN_TOKEN_TTL_S, note=f"local host {lease_id}")
        lease = LeaseRecord(
            lease_id=lease_id,
            request_id=request_id,
            instance_id=spec.instance_id or lease_id,
            gpu_type=spec.gpu_type,
            gpu_count=spec.gpu_count,
            region=spec.region,
            price_per_hour_cents=offer.price_per_hour_cents,
            created_at=utc_now().isoformat(),
            join_token=token,
            gpu_simulated=gpus,
        )
        self._leases.put(lease)  # first: from here on, release can clean up after a crash
        host = self._layout.host(lease_id)
        host.workspace.mkdir(parents=True, exist_ok=True)
        if gpus:
            write_scenario(host.gpus, spec.gpu_type, spec.gpu_count, lease_id[-8:])
        write_config(host, self._config_text(lease))
        return lease

    def _config_text(self, lease: LeaseRecord) -> str:
        labels = {
            "provider": PROVIDER,
            "lease": lease.lease_id,
            "instance": lease.instance_id,
            "gpu_type": lease.gpu_type,
            "region": lease.region,
        }
        return render(
            self._layout.host(lease.lease_id),
            name=lease.lease_id,
            address=self._settings.control_plane_address,
            join_token=lease.join_token,
            repository=self._layout.repository(lease.instance_id),
            labels=labels,
            gpus=lease.gpu_simulated,
            idle=self._settings.idle,
        )

    async def _start(self, lease: LeaseRecord) -> None:
        """Starts the agent unless it runs, then waits until it is connected. A new host
        that fails is removed whole; one that had connected before keeps its folder (its
        workspace may hold work) and its lease, for release to clean up."""
        host = self._layout.host(lease.lease_id)
        pid = processes.find_agent(host.config, lease.pid)
        since = None
        if pid is None:
            since = utc_now()  # the stream of the agent started now, not a stale one
            if lease.gpu_simulated:
                await self._nvml_folder()  # a new provider object (a restart) builds it again
            pid = processes.spawn_agent(
                processes.agent_executable(), host.config, host.log, self._agent_env(lease)
            )
            lease.pid = pid
            self._leases.put(lease)
            log.info("local host %s: agent started (pid %d)", lease.lease_id, pid)
        try:
            await self._wait_connected(lease, since)
        except Unavailable:
            await processes.stop_agent(pid, host.config, self._settings.stop_timeout_s)
            if not lease.host_id:  # never joined: nothing of an instance lives there
                await self._destroy(lease)
            raise

    async def _connected(self, lease: LeaseRecord, since: datetime | None) -> bool:
        """The host's stream is up (and, for an agent just started, opened after `since`)."""
        if not lease.host_id or not self._hub.is_connected(lease.host_id):
            return False
        if since is None:
            return True
        connected_at = (await self._hosts.get(lease.host_id)).connected_at
        return connected_at is not None and connected_at >= since

    async def _wait_connected(self, lease: LeaseRecord, since: datetime | None) -> None:
        host = self._layout.host(lease.lease_id)
        deadline = asyncio.get_running_loop().time() + self._settings.start_timeout_s
        while True:
            if not lease.host_id:
                host_id = await self._join_tokens.redeemed_by(lease.join_token)
                if host_id:
                    lease.host_id = host_id
                    self._leases.put(lease)
            if await self._connected(lease, since):
                return
            if lease.pid is None or not processes.is_agent_of(lease.pid, host.config):
                raise Unavailable(
                    f"the local agent of {lease.lease_id} exited: {processes.last_line(host.log)}"
                )
            if asyncio.get_running_loop().time() > deadline:
                raise Unavailable(
                    f"the local agent of {lease.lease_id} did not connect within"
                    f" {self._settings.start_timeout_s:g} s: {processes.last_line(host.log)}"
                )
            await asyncio.sleep(POLL_S)

    def _agent_env(self, lease: LeaseRecord) -> dict[str, str]:
        """This process's environment for the agent, less any repository key it inherited:
        an agent's keys come only from its Assign, Restore and Prefetch commands."""
        env = snapshots.cli_environment(None)
        if lease.gpu_simulated and self._nvml is not None:
            library_path = [str(self._nvml), env.get("LD_LIBRARY_PATH", "")]
            env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in library_path if p)
            env[SCENARIO_ENV] = str(self._layout.host(lease.lease_id).gpus)
        return env

    async def _nvml_folder(self) -> Path | None:
        """The NVML double, built on first use; None (one warning) when it cannot be."""
        if not self._nvml_checked and self._settings.simulate_gpus:
            try:
                self._nvml = await asyncio.to_thread(build_nvml_double, self._layout.nvml)
                log.info("local hosts read simulated GPUs from %s", self._nvml / LIBRARY_NAME)
            except NvmlBuildError as error:
                log.warning("local hosts run without GPUs: %s", error)
        self._nvml_checked = True
        return self._nvml

    def _lease_of(self, lease: LeaseRecord, offer: Offer) -> Lease:
        host = self._layout.host(lease.lease_id)
        return Lease(
            provider=PROVIDER,
            lease_id=lease.lease_id,
            host_id=lease.host_id,
            offer=offer,
            details={
                "workspace": str(host.workspace),
                "log": str(host.log),
                "repository": str(self._layout.repository(lease.instance_id)),
                "config": str(host.config),
            },
        )

    # ---- release ---------------------------------------------------------------------

    async def _destroy(self, lease: LeaseRecord, *, lost: bool = False) -> None:
        """Stops (or, `lost`, kills) the agent, deletes the host's folder, then forgets the
        lease (in that order: a crash part way leaves a record the next release finishes)."""
        host = self._layout.host(lease.lease_id)
        pid = processes.find_agent(host.config, lease.pid)
        if pid is not None and lost:
            await processes.kill_agent(pid, host.config)
            log.info("local host %s: agent killed (pid %d): it was lost", lease.lease_id, pid)
        elif pid is not None:
            await processes.stop_agent(pid, host.config, self._settings.stop_timeout_s)
        if left := await processes.end_leftovers(host.folder):
            log.info(
                "local host %s: killed %d process(es) left in its folder", lease.lease_id, len(left)
            )
        await asyncio.to_thread(shutil.rmtree, host.folder, ignore_errors=True)
        self._leases.delete(lease.lease_id)
        log.info("local host %s released", lease.lease_id)
