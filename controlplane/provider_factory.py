"""Builds the provider `TORPOR_PROVIDER` names, once the control plane's gRPC port is known."""

from __future__ import annotations

from .providers.base import Provider
from .providers.local import LocalProvider, LocalSettings
from .providers.local.agent_config import IdleOverrides
from .repository_keys.stored import InstanceKeys
from .services import Services
from .settings import Settings

ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 (names, not a bind)


def agent_address(settings: Settings, grpc_port: int) -> str:
    """Where an agent on this machine reaches the gRPC server."""
    host = "127.0.0.1" if settings.grpc_host in ANY_ADDRESS else settings.grpc_host
    return f"{host}:{grpc_port}"


def build_provider(settings: Settings, services: Services, grpc_port: int) -> Provider:
    """The configured provider (only `local` so far)."""
    local = LocalSettings(
        root=settings.local_root_dir(),
        control_plane_address=settings.local_agent_address or agent_address(settings, grpc_port),
        price_table=settings.local_price_table,
        simulate_gpus=settings.local_simulate_gpus,
        start_timeout_s=settings.local_agent_start_timeout_s,
        stop_timeout_s=settings.local_agent_stop_timeout_s,
        idle=IdleOverrides(
            window_s=settings.local_idle_window_s,
            grace_s=settings.local_idle_grace_s,
            poll_interval_s=settings.local_idle_poll_interval_s,
        ),
    )
    keys = InstanceKeys(services.sessions, services.repository_keys)
    return LocalProvider(local, services.join_tokens, services.hosts, services.hub, keys)
