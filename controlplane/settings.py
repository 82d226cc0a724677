"""The control plane's settings: one typed object read from `TORPOR_*` environment variables.

Every invalid variable is reported at once (one line each, naming the variable), so an
operator fixes a broken unit file in one round instead of one error per restart.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from torpor.common import paths

from .providers.local.prices import load_offers
from .repository_keys.master_key import MASTER_KEY_FILE

ENV_PREFIX = "TORPOR_"
SUPPORTED_DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
LogLevel = Literal["critical", "error", "warning", "info", "debug"]


def default_state_dir() -> Path:
    """The control plane's default: /var/lib/torpor only under systemd (torpor.common.paths)."""
    return paths.default_state_dir(os.environ, os.geteuid(), Path.home(), root_needs_systemd=True)


class Settings(BaseSettings):
    """Everything the control plane reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", use_attribute_docstrings=True, frozen=True
    )

    state_dir: Path = Field(default_factory=default_state_dir)
    """Where the default SQLite database lives (`TORPOR_STATE_DIR`)."""

    database_url: str = ""
    """SQLAlchemy URL: `sqlite+aiosqlite:///<path>` (default `<state dir>/controlplane.db`)
    or `postgresql+asyncpg://user@host/db`; a `?search_path=schema` query selects a schema."""

    http_host: str = "127.0.0.1"
    """Address the HTTP API binds; loopback by default because there is no TLS yet."""

    http_port: int = Field(default=8766, ge=0, lt=65536)
    """HTTP API port (0: any free port)."""

    grpc_host: str = "127.0.0.1"
    """Address the gRPC server (agents and torporctl) binds; loopback until TLS lands."""

    grpc_port: int = Field(default=8767, ge=0, lt=65536)
    """gRPC port (0: any free port)."""

    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    """How often agents send telemetry; sent to them in Welcome."""

    heartbeat_ttl_s: float = Field(default=10.0, gt=0)
    """Silence after which a host is overdue; with the grace below it is declared lost."""

    heartbeat_grace_s: float = Field(default=8.0, ge=0)
    """Extra silence tolerated after the TTL before a host is declared lost."""

    join_token_ttl_s: float = Field(default=3600.0, gt=0)
    """Default lifetime of a join token created without `--ttl`."""

    hibernate_timeout_s: float = Field(default=3600.0, gt=0)
    """How long an agent may take to answer Hibernate (grace, hooks, final snapshot) before
    the hibernate is rolled back and the instance keeps running."""

    restore_timeout_s: float = Field(default=3600.0, gt=0)
    """How long a wake waits for the restore of the latest snapshot before giving up (the
    instance stays hibernated, its snapshot intact)."""

    agent_command_timeout_s: float = Field(default=60.0, gt=0)
    """How long short agent commands (an instance's idle policy) may go unanswered."""

    snapshot_timeout_s: float = Field(default=3600.0, gt=0)
    """How long a manual snapshot (`POST /instances/{id}/snapshots`) may take."""

    fence_after_s: float = Field(default=60.0, gt=0)
    """An agent that has not heard from the control plane for this long stops its
    instance's work on its own (sent in every Assign) — only on hosts whose provider cannot
    confirm a release; the others get 0, never (`Provider.confirms_release`). Must exceed
    heartbeat ttl + grace, or a host merely late would fence itself before the control
    plane declared it lost."""

    fence_margin_s: float = Field(default=26.0, ge=0)
    """Added to `fence_after_s` when a failover cannot confirm the old host is gone (its
    release failed, no Fence acknowledged): the new host is assigned only once the old
    one must have fenced itself — from its last heartbeat, a heartbeat interval (5 s), the
    agent's HTTP/2 keepalive noticing the dead stream (10 s + 5 s), its watch tick and
    `[fencing] term_grace_s` (5 s) for the work to end."""

    feed_telemetry_interval_s: float = Field(default=5.0, gt=0)
    """How often the live feed (`GET /instances/{id}/feed`) sends the host's telemetry."""

    log_level: LogLevel = "info"
    """Log level of the control plane and of uvicorn."""

    jwt_secret: SecretStr | None = None
    """Key that signs access tokens (HS256); unset: a random one kept in `<state dir>/jwt.secret`.
    Every control-plane process behind one database must share it."""

    repository_master_key_file: Path | None = None
    """32 random bytes (mode 0600) that seal every instance's snapshot-repository secret in
    the database; unset: `<state dir>/repository-master.key`, made on first start. A file
    named here must exist. Losing it loses every encrypted repository; every control
    plane behind one database must share it."""

    access_token_ttl_s: float = Field(default=900.0, gt=0)
    """Lifetime of a JWT access token; a client renews it with its refresh token."""

    session_ttl_s: float = Field(default=30 * 86400.0, gt=0)
    """Lifetime of a login session (its refresh token), from login."""

    invitation_ttl_s: float = Field(default=7 * 86400.0, gt=0)
    """How long a team invitation can be accepted."""

    password_hash_time_cost: int = Field(default=3, ge=1)
    """argon2id passes; raising it slows logins and password guessing alike."""

    password_hash_memory_kib: int = Field(default=65536, ge=8)
    """argon2id memory per hash, in KiB."""

    login_rate_per_minute: int = Field(default=10, ge=1)
    """Login attempts per email address per minute (then 429)."""

    login_address_rate_per_minute: int = Field(default=30, ge=1)
    """Login attempts per client address per minute, whatever the email."""

    register_rate_per_minute: int = Field(default=10, ge=1)
    """Registrations per client address per minute."""

    api_key_rate_per_minute: int = Field(default=10, ge=1)
    """API keys a user may create per minute."""
    provider: Literal["local"] = "local"
    """Where hosts come from: `local` runs each host as a `torpor-agent` process here."""

    local_root: Path | None = None
    """The local provider's folder (leases, hosts, snapshot repositories);
    default `<state dir>/local`."""

    local_price_table: Path | None = None
    """A TOML price table for the local provider's offers (`[[offer]]` entries with
    gpu_type, gpu_count, region, price_per_hour_cents); unset: the built-in table."""

    local_simulate_gpus: bool = True
    """Give local hosts simulated GPUs through the NVML double (needs gcc; without it the
    hosts run GPU-less, with one warning)."""

    local_agent_start_timeout_s: float = Field(default=30.0, gt=0)
    """How long a local agent may take to join and connect before acquire gives up."""

    local_agent_stop_timeout_s: float = Field(default=10.0, gt=0)
    """How long a released local agent has between SIGTERM and SIGKILL (a host declared
    lost is SIGKILLed at once: a frozen agent would only sit the wait out)."""

    local_idle_window_s: float | None = Field(default=None, gt=0)
    """`[idle] window_s` of every local host (short: the demo and tests hibernate fast)."""

    local_idle_grace_s: float | None = Field(default=None, ge=0)
    """`[idle] grace_s` of every local host."""

    local_idle_poll_interval_s: float | None = Field(default=None, gt=0, le=60)
    """`[idle] poll_interval_s` of every local host."""

    local_agent_address: str = ""
    """host:port local agents dial instead of the gRPC listener (e.g. a proxy in front of
    it, as the jitter benchmark puts there); empty: the listener itself."""

    grpc_tls_cert: Path | None = None
    """PEM certificate (chain) the gRPC server presents; with `TORPOR_GRPC_TLS_KEY` it
    turns TLS on (docs/tls.md)."""

    grpc_tls_key: Path | None = None
    """PEM private key of `TORPOR_GRPC_TLS_CERT` (keep it mode 0600)."""

    grpc_tls_client_ca: Path | None = None
    """PEM CA bundle that client certificates must chain to; set, every agent and torporctl
    must present a certificate (mutual TLS) and AdminService takes operator ones only."""

    storage_price_per_gb_month: Decimal = Field(default=Decimal("0.023"), ge=0, le=1000)
    """Snapshot storage price in USD per GB-month for the savings ledger (default: S3
    Standard's first tier in us-east-1, https://aws.amazon.com/s3/pricing/)."""
    warmpool_tick_s: float = Field(default=15.0, gt=0)
    """How often the warm-pool reconciler runs a pass (a claim or a pool change runs one
    at once): acquire standbys when short, release when long or idle, send prefetches."""

    warmpool_prefetch_timeout_s: float = Field(default=3600.0, gt=0)
    """How long a standby's prefetch of one snapshot may take."""

    @field_validator("grpc_tls_cert", "grpc_tls_key", "grpc_tls_client_ca")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                value.read_bytes()
            except OSError as err:
                raise ValueError(f"cannot read {value}: {err.strerror}") from None
        return value

    @model_validator(mode="after")
    def _tls_complete(self) -> Settings:
        if (self.grpc_tls_cert is None) != (self.grpc_tls_key is None):
            raise ValueError("set TORPOR_GRPC_TLS_CERT and TORPOR_GRPC_TLS_KEY together")
        if self.grpc_tls_client_ca is not None and self.grpc_tls_cert is None:
            raise ValueError("TORPOR_GRPC_TLS_CLIENT_CA needs TORPOR_GRPC_TLS_CERT and _KEY")
        return self

    @model_validator(mode="after")
    def _fence_after_lost(self) -> Settings:
        lost_after_s = self.heartbeat_ttl_s + self.heartbeat_grace_s
        if self.fence_after_s <= lost_after_s:
            raise ValueError(
                f"TORPOR_FENCE_AFTER_S ({self.fence_after_s:g}) must exceed "
                f"TORPOR_HEARTBEAT_TTL_S + TORPOR_HEARTBEAT_GRACE_S ({lost_after_s:g})"
            )
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("local_price_table")
    @classmethod
    def _readable_price_table(cls, value: Path | None) -> Path | None:
        if value is not None:
            load_offers(value)  # PriceTableError is a ValueError: reported at start-up
        return value

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and not value.startswith(SUPPORTED_DATABASE_SCHEMES):
            schemes = ", ".join(f"{s}…" for s in SUPPORTED_DATABASE_SCHEMES)
            raise ValueError(f"unsupported database URL; use one of {schemes}")
        return value

    def local_root_dir(self) -> Path:
        return self.local_root or self.state_dir / "local"

    def repository_master_key_path(self) -> Path:
        return self.repository_master_key_file or self.state_dir / MASTER_KEY_FILE

    @model_validator(mode="after")
    def _default_database_url(self) -> Settings:
        if not self.database_url:
            url = f"sqlite+aiosqlite:///{self.state_dir / 'controlplane.db'}"
            object.__setattr__(self, "database_url", url)
        return self


class SettingsError(Exception):
    """Invalid settings; `lines` holds one line per invalid variable."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_settings(**overrides: object) -> Settings:
    """Reads the environment; raises SettingsError listing every invalid variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        raise SettingsError(describe_errors(err)) from None


def describe_errors(err: ValidationError) -> list[str]:
    """One `TORPOR_NAME: message` line per error, the way an operator set the variable."""
    lines = []
    for error in err.errors():
        names = [str(part) for part in error["loc"] if isinstance(part, str)]
        variable = f"{ENV_PREFIX}{names[0].upper()}" if names else "configuration"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{variable}: {message}")
    return lines
