"""The domain services wired together once, for the runtime, the CLI and tests alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .accounts.config import AccountsConfig
from .accounts.service import AccountServices, build_accounts
from .configure import accounts_config, keyring_from
from .db.engine import create_engine, session_factory
from .db.migrate import upgrade_database
from .events.bus import EventBus
from .events.store import EventStore
from .failover.fencing import Fencing
from .failover.policy import FailoverPolicy
from .failover.reassign import Reassignment
from .failover.service import FailoverService
from .failover.steps import FailoverSteps
from .fleet.hub import AgentHub
from .fleet.operator_commands import CommandService
from .fleet.schemas import HeartbeatPolicy
from .fleet.service import HostService
from .fleet.sessions import AgentSessionService
from .identity.admin_tokens import AdminTokenService
from .identity.host_credentials import HostCredentialService
from .identity.join_tokens import JoinTokenService
from .instances.agents import AgentCommands
from .instances.deletion import Deletion
from .instances.hibernation import Hibernation
from .instances.lifecycle import Lifecycle
from .instances.observe import InstanceObserver
from .instances.placer import Placer
from .instances.recorder import OperationRecorder
from .instances.releases import Releases
from .instances.restorer import Restorer
from .instances.rollback import Rollback
from .instances.runner import OperationRunner
from .instances.schedule import SnapshotScheduler
from .instances.service import InstanceService
from .instances.snapshots import SnapshotService
from .instances.standbys import StandbyClaims
from .instances.team_guard import live_instances
from .instances.timeouts import Timeouts
from .operators.drain import DrainService
from .providers.registry import ProviderRegistry
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
    operations: OperationRunner
    """Runs every journalled operation (create, wake, hibernate, delete, failover)."""
    agents: AgentCommands
    """The commands the lifecycle sends to agents (Assign, Restore, snapshots, Fence)."""
    timeouts: Timeouts
    snapshots: SnapshotService
    observer: InstanceObserver
    schedule: SnapshotScheduler
    drains: DrainService
    failover: FailoverService
    failover_steps: FailoverSteps
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

    Every dependency is passed at construction, lowest layer first: the fleet, the
    providers, the warm pools, the lifecycle, failover, then the agents' sessions, which
    hear from all of them. Without `accounts`, access tokens are signed with a key of
    this process only; without `repository_keys`, repository secrets are sealed with one
    too.
    """
    keys = repository_keys or RepositoryKeyring.ephemeral()
    timeouts = timeouts or Timeouts()
    sessions = session_factory(engine)
    events = EventStore(sessions)
    bus = EventBus(events)
    hosts = HostService(sessions, bus)
    hub = AgentHub(hosts, policy)
    credentials = HostCredentialService(sessions)
    providers = ProviderRegistry(hub)  # releases go through the hub: a release is no loss
    agents = AgentCommands(hub)
    snapshots = SnapshotService(sessions, providers)
    warmpool = build_warmpool(
        sessions, providers, agents, warmpool_settings or WarmPoolSettings(), keys
    )
    claims = PoolClaims(sessions, providers, warmpool.reconciler.nudge)
    lifecycle = _build_lifecycle(
        sessions=sessions,
        bus=bus,
        providers=providers,
        agents=agents,
        snapshots=snapshots,
        claims=claims,
        timeouts=timeouts,
        keys=keys,
    )
    operations = lifecycle.operations
    instances = InstanceService(
        sessions,
        bus,
        providers,
        agents,
        snapshots=snapshots,
        operations=operations,
        timeouts=timeouts,
        repository_keys=keys,
    )
    failover_policy = FailoverPolicy(sessions)
    reassignment = Reassignment(
        sessions,
        bus,
        instances,
        agents,
        providers,
        operations=operations,
        timeouts=timeouts,
        repository_keys=keys,
    )
    failover = FailoverService(
        sessions,
        bus,
        instances,
        failover_policy,
        operations=operations,
        claims=claims,  # failover tries a warm standby first
        timeouts=timeouts,
        hub=hub,
        reassignment=reassignment,
    )
    fencing = Fencing(
        sessions,
        bus,
        timeouts.fence_after_s,
        keys,
        providers=providers,
        reassignment=reassignment,
    )
    agent_sessions = AgentSessionService(
        credentials,
        hosts,
        hub,
        bus,
        idle=instances,
        assignments=fencing,
        preemptions=failover,
    )
    account_services = build_accounts(
        sessions, accounts or AccountsConfig.ephemeral(), [live_instances]
    )
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
        providers=providers,
        instances=instances,
        operations=operations,
        agents=agents,
        timeouts=timeouts,
        snapshots=snapshots,
        observer=InstanceObserver(sessions, instances, events, bus, hosts),
        schedule=SnapshotScheduler(sessions, instances, periods=failover_policy.snapshot_every),
        savings=SavingsService(sessions, savings),
        drains=DrainService(
            sessions, bus, hosts, instances, operations=operations, failover=failover
        ),
        warmpool=warmpool,
        failover=failover,
        failover_steps=lifecycle.failover_steps,
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


@dataclass(frozen=True)
class _Lifecycle:
    operations: OperationRunner
    failover_steps: FailoverSteps


def _build_lifecycle(
    *,
    sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    providers: ProviderRegistry,
    agents: AgentCommands,
    snapshots: SnapshotService,
    claims: StandbyClaims,
    timeouts: Timeouts,
    keys: RepositoryKeyring,
) -> _Lifecycle:
    """The lifecycle core's collaborators, and the runner of every operation's steps
    (controlplane/instances/lifecycle.py; failover's own in failover/steps.py)."""
    recorder = OperationRecorder(sessions, bus)
    releases = Releases(providers, recorder)
    rollback = Rollback(recorder, releases)
    placer = Placer(
        recorder,
        rollback,
        providers,
        agents,
        standbys=claims,
        timeouts=timeouts,
        repository_keys=keys,
    )
    restorer = Restorer(
        recorder, releases, rollback, agents, timeouts=timeouts, repository_keys=keys
    )
    lifecycle = Lifecycle(
        recorder,
        placer,
        restorer,
        Hibernation(recorder, releases, agents, snapshots, timeouts),
        Deletion(recorder, releases, snapshots),
    )
    failover_steps = FailoverSteps(
        recorder,
        rollback,
        releases,
        placer=placer,
        restorer=restorer,
        providers=providers,
        agents=agents,
        claims=claims,
        timeouts=timeouts,
    )
    steps = {**lifecycle.steps(), "failover": failover_steps.steps()}
    return _Lifecycle(OperationRunner(sessions, steps, rollback), failover_steps)


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
