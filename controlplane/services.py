"""The domain services wired together once, for the runtime, the CLI and tests alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .accounts.config import AccountsConfig, accounts_config
from .accounts.service import AccountServices, build_accounts
from .db.engine import create_engine, session_factory
from .db.migrate import upgrade_database
from .events.bus import EventBus
from .events.store import EventStore
from .failover.fencing import Fencing
from .failover.policy import FailoverPolicy
from .failover.reassign import Reassignment
from .failover.service import FailoverService
from .failover.steps import FailoverSteps
from .fleet.commands import CommandService
from .fleet.hub import AgentHub
from .fleet.schemas import HeartbeatPolicy
from .fleet.service import HostService
from .fleet.sessions import AgentSessionService
from .identity.admin_tokens import AdminTokenService
from .identity.host_credentials import HostCredentialService
from .identity.join_tokens import JoinTokenService
from .instances.agents import AgentCommands
from .instances.observe import InstanceObserver
from .instances.operations import Orchestrator, Timeouts
from .instances.schedule import SnapshotScheduler
from .instances.service import InstanceService
from .instances.snapshots import SnapshotService
from .instances.team_guard import live_instances
from .operators.drain import DrainService
from .providers.registry import ProviderRegistry
from .repository_keys.config import keyring_from
from .repository_keys.keyring import RepositoryKeyring
from .repository_keys.stored import check_master_key
from .savings.service import SavingsConfig, SavingsService
from .settings import Settings
from .warmpool.claiming import PoolClaims
from .warmpool.prefetch import Prefetcher
from .warmpool.reconciler import Reconciler
from .warmpool.service import WarmPoolService


@dataclass(frozen=True)
class Services:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    events: EventStore
    bus: EventBus
    hosts: HostService
    hub: AgentHub
    join_tokens: JoinTokenService
    admin_tokens: AdminTokenService
    host_credentials: HostCredentialService
    agent_sessions: AgentSessionService
    commands: CommandService
    accounts: AccountServices
    instances: InstanceService
    snapshots: SnapshotService
    observer: InstanceObserver
    schedule: SnapshotScheduler
    drains: DrainService
    failover: FailoverService
    savings: SavingsService
    """The savings ledger's reports."""
    warmpool: WarmPoolService
    """Warm pools (started by the runtime); `warmpool.reconciler.tick()` runs one pass."""
    repository_keys: RepositoryKeyring
    """Seals new instances' repository secrets, opens stored ones (the master key)."""
    providers: ProviderRegistry
    """Filled by the runtime once gRPC listens (`providers.get()` is the configured one);
    `providers.release` is how every host is given back (the hub hears first)."""


def policy_from(settings: Settings) -> HeartbeatPolicy:
    return HeartbeatPolicy(
        interval_s=settings.heartbeat_interval_s,
        ttl_s=settings.heartbeat_ttl_s,
        grace_s=settings.heartbeat_grace_s,
    )


def timeouts_from(settings: Settings) -> Timeouts:
    return Timeouts(
        hibernate_s=settings.hibernate_timeout_s,
        restore_s=settings.restore_timeout_s,
        snapshot_s=settings.snapshot_timeout_s,
        command_s=settings.agent_command_timeout_s,
        fence_after_s=settings.fence_after_s,
        fence_margin_s=settings.fence_margin_s,
    )


def build_services(
    engine: AsyncEngine,
    policy: HeartbeatPolicy,
    accounts: AccountsConfig | None = None,
    *,
    timeouts: Timeouts | None = None,
    savings: SavingsConfig | None = None,
    warmpool_settings: WarmPoolSettings | None = None,
    repository_keys: RepositoryKeyring | None = None,
) -> Services:
    """Every service over one engine; nothing is started (the hub's reaper included).

    Without `accounts`, access tokens are signed with a key of this process only; without
    `repository_keys`, repository secrets are sealed with one too.
    """
    keys = repository_keys or RepositoryKeyring.ephemeral()
    sessions = session_factory(engine)
    events = EventStore(sessions)
    bus = EventBus(events)
    hosts = HostService(sessions, bus)
    hub = AgentHub(hosts, policy)
    credentials = HostCredentialService(sessions)
    placing = ProviderRegistry(hub)  # releases go through the hub: a release is no loss
    agents = AgentCommands(hub)
    snapshots = SnapshotService(sessions, placing)
    orchestrator = Orchestrator(
        sessions,
        bus,
        placing,
        agents,
        snapshots=snapshots,
        timeouts=timeouts or Timeouts(),
        repository_keys=keys,
    )
    instances = InstanceService(
        sessions,
        bus,
        placing,
        agents,
        snapshots=snapshots,
        orchestrator=orchestrator,
        repository_keys=keys,
    )
    agent_sessions = AgentSessionService(credentials, hosts, hub, bus)
    account_services = build_accounts(sessions, accounts or AccountsConfig.ephemeral())
    account_services.teams.add_deletion_check(live_instances)
    agent_sessions.on_idle_report = instances.on_idle_report
    warmpool = build_warmpool(
        sessions, placing, agents, warmpool_settings or WarmPoolSettings(), keys
    )
    orchestrator.standbys = PoolClaims(sessions, placing, warmpool.reconciler.nudge)
    agent_sessions.idle_policy_of = instances.idle_policy_of
    schedule = SnapshotScheduler(sessions, instances)
    failover = _build_failover(
        sessions=sessions,
        bus=bus,
        instances=instances,
        agents=agents,
        placing=placing,
        hub=hub,
        agent_sessions=agent_sessions,
    )
    schedule.periods = failover.policy.snapshot_every
    failover.steps.claims = orchestrator.standbys  # failover tries a warm standby first
    return Services(
        engine=engine,
        sessions=sessions,
        events=events,
        bus=bus,
        hosts=hosts,
        hub=hub,
        join_tokens=JoinTokenService(sessions),
        admin_tokens=AdminTokenService(sessions),
        host_credentials=credentials,
        agent_sessions=agent_sessions,
        commands=CommandService(hosts, hub),
        accounts=account_services,
        providers=placing,
        instances=instances,
        snapshots=snapshots,
        observer=InstanceObserver(sessions, instances, events, bus, hosts),
        schedule=schedule,
        savings=SavingsService(sessions, savings),
        drains=DrainService(sessions, bus, hosts, instances, failover),
        warmpool=warmpool,
        failover=failover,
        repository_keys=keys,
    )


@dataclass(frozen=True)
class WarmPoolSettings:
    tick_s: float = 15.0
    prefetch_timeout_s: float = 3600.0


def build_warmpool(
    sessions: async_sessionmaker[AsyncSession],
    providers: ProviderRegistry,
    agents: AgentCommands,
    settings: WarmPoolSettings,
    repository_keys: RepositoryKeyring,
) -> WarmPoolService:
    prefetcher = Prefetcher(
        sessions, providers, agents, repository_keys, settings.prefetch_timeout_s
    )
    reconciler = Reconciler(sessions, providers, prefetcher, settings.tick_s)
    return WarmPoolService(sessions, providers, reconciler)


def _build_failover(
    *,
    sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    instances: InstanceService,
    agents: AgentCommands,
    placing: ProviderRegistry,
    hub: AgentHub,
    agent_sessions: AgentSessionService,
) -> FailoverService:
    """Failover, hooked into the hub (lost hosts) and agent streams (Hello, Welcome,
    preemption notices). `failover.steps.claims` is where a warm pool plugs in."""
    steps = FailoverSteps(instances.orchestrator, placing, agents)
    reassignment = Reassignment(sessions, bus, instances, agents, placing)
    failover = FailoverService(
        sessions,
        bus,
        instances,
        steps,
        FailoverPolicy(sessions),
        hub=hub,
        reassignment=reassignment,
    )
    orchestrator = instances.orchestrator
    fencing = Fencing(
        sessions,
        bus,
        orchestrator.timeouts.fence_after_s,
        orchestrator.repository_keys,
        providers=placing,
        reassignment=reassignment,
    )
    hub.on_lost = failover.on_host_lost
    hub.held_elsewhere = failover.held_on_disconnected
    agent_sessions.assignment_of = fencing.assignment_of
    agent_sessions.check_hello = fencing.check_hello
    agent_sessions.on_preemption = failover.on_preemption
    return failover


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Migrates the database, then yields services over it; disposes the engine after.

    Raises DatabaseUnreachable when the database cannot be used, MasterKeyError when the
    repository master key cannot (or does not open the stored repository keys).
    """
    keys = keyring_from(settings)
    await upgrade_database(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        services = build_services(
            engine,
            policy_from(settings),
            accounts_config(settings),
            timeouts=timeouts_from(settings),
            savings=SavingsConfig(settings.storage_price_per_gb_month),
            warmpool_settings=WarmPoolSettings(
                settings.warmpool_tick_s, settings.warmpool_prefetch_timeout_s
            ),
            repository_keys=keys,
        )
        await check_master_key(services.sessions, keys)
        yield services
    finally:
        await engine.dispose()


async def preflight(settings: Settings) -> None:
    """What `open_services` would refuse, checked before a server starts (whose start-up
    errors come as tracebacks): the database reachable and migrated, the master key usable.

    Raises DatabaseUnreachable, MasterKeyError."""
    async with open_services(settings):
        pass
