"""The agent process: state directory, systemd notifications, signals and the stream.

READY=1 is sent once the config is valid and the state directory usable, not when the
control plane answers: a control plane that is down must not make systemd restart every
agent (docs/design.md, "The stream protocol").
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import TypeVar

from torpor.proto.v1 import agent_pb2

from .commands import CommandDispatcher
from .config import AgentConfig
from .connection import Connection
from .errors import EX_CONFIG, PermanentError
from .fencing.assignment import AssignmentStore
from .fencing.wiring import FencingAgent
from .gpu.stack import start_gpu_stack
from .identity import CredentialStore
from .idle.probes import MonitorFeed, NoGpus
from .idle.wiring import IdleAgent, default_snapshotter, default_sources
from .logs import configure_logging
from .notify import SystemdNotifier
from .outbox import Outbox
from .preemption.signals import SignalSource
from .preemption.watcher import PreemptionWatcher, source_of
from .snapshot.claiming import CacheClaims
from .snapshot.commands import SnapshotCommands
from .snapshot.tenancy import CacheTenancy
from .stream import HostFacts
from .telemetry.host import HostProbe, boot_time, os_description

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
T = TypeVar("T")


def run(config: AgentConfig) -> int:
    """Runs the agent until SIGTERM/SIGINT (0) or a permanent error (78, one line logged)."""
    configure_logging(config.log)
    notifier = SystemdNotifier()
    try:
        asyncio.run(_serve(config, notifier))
    except PermanentError as error:
        log.error("%s", error)  # expected: one line, no traceback
        notifier.status(f"stopped: {error}")
        notifier.stopping()
        return EX_CONFIG
    return 0


async def _serve(config: AgentConfig, notifier: SystemdNotifier) -> None:
    control_plane = config.control_plane
    if control_plane is None:  # the CLI checks first; this keeps the type honest
        raise PermanentError("control_plane.address is required to run the agent")
    store = CredentialStore(config.state_dir())
    store.prepare()
    try:
        gpus = start_gpu_stack(config.gpu, config.agent.name)
    except OSError as error:
        raise PermanentError(f"gpu.prometheus_port: cannot listen: {error}") from error
    gpu_feed = MonitorFeed(gpus.monitor) if gpus is not None else NoGpus()
    outbox = Outbox()
    loop = asyncio.get_running_loop()

    def post(message: agent_pb2.AgentMessage) -> None:  # from the snapshot's threads
        loop.call_soon_threadsafe(outbox.put, message)

    assignments = AssignmentStore(store.state_dir)
    tenancy = _cache_tenancy(config, assignments)
    fencing = FencingAgent(config, assignments, outbox)
    claims = CacheClaims(tenancy, fencing.assign)
    preemption = _preemption(config, outbox, loop)
    snapshotter = default_snapshotter(config, post, placement=fencing, tenancy=tenancy)
    idle = IdleAgent(config, default_sources(config, gpu_feed), snapshotter, outbox=outbox)
    snapshots = SnapshotCommands(snapshotter)
    dispatcher = CommandDispatcher(
        handlers={
            "set_idle_policy": idle.set_idle_policy,
        },
        long_handlers={
            "hibernate": idle.hibernate,
            "restore": snapshots.restore,
            "take_snapshot": snapshots.take_snapshot,
            "assign": claims.assign,  # the cache is the instance's before it is assigned
            "fence": fencing.fence_command,
            "prefetch": snapshots.prefetch,
        },
        outbox=idle.outbox,
        gate=fencing.guard.admit,
    )
    connection = Connection(
        control_plane,
        store,
        _host_facts(config),
        HostProbe(config.telemetry.disk_path),
        on_state=notifier.status,
        gpu=gpus.monitor if gpus is not None else None,
        dispatcher=dispatcher,
        outbox=idle.outbox,
        on_welcome=_each(claims.on_welcome, fencing.on_welcome, idle.on_welcome),
        assignment=fencing.hello_assignment,
        on_link=_each(fencing.on_link, *([preemption.on_link] if preemption else [])),
    )
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, _stop, connection, signum)
    notifier.ready()
    log.info("agent %s started, state in %s", config.agent.name, store.state_dir)
    watchdog = asyncio.create_task(_watchdog(notifier))
    idle_loop = asyncio.create_task(idle.run())
    fencing_loop = asyncio.create_task(fencing.run())
    preemption_loop = asyncio.create_task(preemption.run()) if preemption else None
    try:
        await connection.run()
    finally:
        watchdog.cancel()
        idle_loop.cancel()
        fencing_loop.cancel()
        if preemption_loop is not None:
            preemption_loop.cancel()
        dispatcher.close()
        if gpus is not None:
            gpus.stop()
    notifier.stopping()
    log.info("agent stopped")


def _stop(connection: Connection, signum: signal.Signals) -> None:
    log.info("received %s, stopping", signum.name)
    connection.stop()


def _each(*callbacks: Callable[[T], None]) -> Callable[[T], None]:
    """One callback calling each in order (Welcome goes to the cache's claim, then to
    fencing: the cache is the instance's before the assignment is taken, and the
    assignment current before anything else hears of the new stream)."""

    def call(value: T) -> None:
        for callback in callbacks:
            callback(value)

    return call


def _cache_tenancy(config: AgentConfig, assignments: AssignmentStore) -> CacheTenancy:
    """The cache's tenant is the held assignment's instance; at start, what an earlier
    claim left to delete (a crash) and anything not that instance's is deleted first."""
    held = assignments.load()
    tenancy = CacheTenancy(config.state_dir() / "cache", held.instance_id if held else None)
    if held is not None:
        tenancy.claim(held.instance_id)
    else:
        tenancy.sweep()
    return tenancy


def _preemption(
    config: AgentConfig, outbox: Outbox, loop: asyncio.AbstractEventLoop
) -> PreemptionWatcher | None:
    """The `[preemption]` watcher; None when no source is configured."""
    source = source_of(config.preemption)
    if source is None:
        return None
    if isinstance(source, SignalSource):
        source.install(loop)
    return PreemptionWatcher(source, outbox, config.preemption.poll_s)


def _host_facts(config: AgentConfig) -> HostFacts:
    return HostFacts(
        hostname=config.agent.name,
        labels=dict(config.agent.labels),
        booted_at=boot_time(),
        os=os_description(),
    )


async def _watchdog(notifier: SystemdNotifier) -> None:
    """WATCHDOG=1 from the event loop itself, so a stuck loop misses it and gets restarted."""
    interval_s = notifier.watchdog_interval_s()
    if interval_s is None:
        return
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval_s)
