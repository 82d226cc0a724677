"""The idle feature as the daemon sees it: a poll loop, two commands and a Welcome hook."""

from __future__ import annotations

import logging
from pathlib import Path

import pydantic

from torpor.proto.v1 import agent_pb2

from ..clock import Clock, SystemClock
from ..config import AgentConfig
from ..gpu.model import GpuProbe
from ..outbox import Outbox
from ..snapshot.engine import SnapshotEngine
from ..snapshot.placement import Placement, SnapshotFenced
from ..snapshot.snapshotter import EngineSnapshotter, Post
from ..snapshot.tenancy import CacheTenancy
from .explain import summary
from .gpu_signals import GpuSignals
from .host_signals import HostSignals
from .inhibitors import LOCK_FILE, InhibitorStore, inhibitor_reading
from .jupyter import JupyterSignal, default_runtime_dirs, find_servers, kernel_of_pid
from .monitor import IdleMonitor, IdleSources
from .probes import default_gpu_probe
from .sessions import SessionSignal
from .trigger import (
    HibernateAborted,
    HibernateTrigger,
    NoSnapshotRepository,
    Snapshotter,
    UserNotifier,
    WallNotifier,
)
from .verdict import Verdict

log = logging.getLogger(__name__)


def lock_path(config: AgentConfig) -> Path:
    return config.idle.inhibit_lock_path or config.state_dir() / LOCK_FILE


def default_sources(config: AgentConfig, gpu_probe: GpuProbe | None = None) -> IdleSources:
    """The real signals of this host."""
    dirs = config.idle.jupyter_runtime_dirs or default_runtime_dirs()
    return IdleSources(
        gpu_probe=gpu_probe or default_gpu_probe(),
        gpus=GpuSignals(kernel_of_pid),
        host=HostSignals(),
        sessions=SessionSignal(),
        jupyter=JupyterSignal(lambda: find_servers(dirs)),
        inhibitors=InhibitorStore(config.state_dir()),
        lock_path=lock_path(config),
    )


def default_snapshotter(
    config: AgentConfig,
    post: Post | None = None,
    placement: Placement | None = None,
    tenancy: CacheTenancy | None = None,
) -> SnapshotEngine:
    """The snapshot engine on `[snapshot]`; without a repository, every operation is refused.
    With a `placement`, the assignment may name the repository instead; with a `tenancy`,
    the cache is partitioned per instance."""
    if config.snapshot.repository is None and placement is None:
        return NoSnapshotRepository("no snapshot repository configured ([snapshot] repository)")
    if config.snapshot.workspace is None:
        return NoSnapshotRepository("no workspace configured ([snapshot] workspace)")
    return EngineSnapshotter(config, post, placement, tenancy)


class IdleAgent:
    """Owns the monitor and the trigger; the connection calls its handlers."""

    def __init__(
        self,
        config: AgentConfig,
        sources: IdleSources,
        snapshotter: Snapshotter,
        clock: Clock | None = None,
        notifier: UserNotifier | None = None,
        *,
        outbox: Outbox | None = None,
    ) -> None:
        self.outbox = outbox or Outbox()
        self._clock = clock or SystemClock()
        self._sources = sources
        self.monitor = IdleMonitor(
            config.idle, sources, config.state_dir(), self._clock, self.outbox
        )
        self.trigger = HibernateTrigger(
            settings=lambda: self.monitor.settings,
            clock=self._clock,
            notifier=notifier or WallNotifier(),
            snapshotter=snapshotter,
            cancel_check=self._cancel_reason,
        )

    async def run(self) -> None:
        await self.monitor.run()

    def on_welcome(self, welcome: agent_pb2.Welcome) -> None:
        """Applies the instance's override and repeats the idle report to a new stream."""
        if welcome.HasField("idle_policy"):
            try:
                self.monitor.apply_override(welcome.idle_policy)
            except pydantic.ValidationError as error:
                log.warning("idle policy override from Welcome refused: %s", error)
        report = self.monitor.current_report()
        if report is not None:
            self.outbox.put(report)

    def set_idle_policy(self, command: agent_pb2.Command) -> agent_pb2.CommandResult:
        try:
            self.monitor.apply_override(command.set_idle_policy.policy)
        except pydantic.ValidationError as error:
            detail = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
            return agent_pb2.CommandResult(ok=False, error=f"invalid idle policy: {detail}")
        return agent_pb2.CommandResult(ok=True)

    async def hibernate(self, command: agent_pb2.Command) -> agent_pb2.CommandResult:
        order = command.hibernate
        grace = float(order.grace_s) if order.HasField("grace_s") else None
        try:
            taken = await self.trigger.run(order.reason, grace)
        except HibernateAborted as error:
            log.warning("%s", error)
            fenced = isinstance(error.__cause__, SnapshotFenced)  # a newer placement won
            return agent_pb2.CommandResult(ok=False, error=str(error), fenced=fenced)
        return agent_pb2.CommandResult(
            ok=True, snapshot_id=taken.snapshot_id, outputs=taken.outputs()
        )

    def _cancel_reason(self) -> str | None:
        """An inhibitor (read now, not at the last poll) or any signal no longer idle."""
        sources = self._sources
        held = inhibitor_reading(sources.inhibitors, sources.lock_path, self._clock.wall())
        if held.verdict is not Verdict.IDLE:
            return f"inhibitor: {held.detail}"
        latest = self.monitor.latest
        if latest is not None and latest.blockers():
            return summary(latest)
        return None
