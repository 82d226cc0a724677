"""The agent's TOML configuration, validated at start-up with every error reported at once.

An operator fixing a config file should see all of its mistakes in one run, not one per
restart, so validation errors are collected into a single `ConfigError`.
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from torpor.common import paths
from torpor.common.tls import ClientTls

from .fencing.settings import FencingSection
from .gpu.settings import GpuSection
from .idle.settings import IdleSection
from .preemption.settings import PreemptionSection

DEFAULT_CONFIG_PATH = Path("/etc/torpor/agent.toml")
MAX_PORT = 65535


class ConfigError(Exception):
    """Every problem of one config file; `str()` is the full message, one line per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class TokenFile:
    """A join token read from a file at load time (keeps the secret out of the config)."""

    path: Path
    token: str = field(repr=False)  # never in a log line or an error message


def _read_token_file(value: object) -> TokenFile:
    """Reads the token at load time so an unreadable file is a config error, not a crash later."""
    if not isinstance(value, str | Path):
        raise PydanticCustomError("token_file", "expected a file path")
    path = Path(value)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise PydanticCustomError(
            "token_file",
            "cannot read {path}: {reason}",
            {"path": str(path), "reason": error.strerror},
        ) from error
    if not token:
        raise PydanticCustomError("token_file", "{path} is empty", {"path": str(path)})
    return TokenFile(path, token)


def _readable_file(value: object) -> Path:
    """A TLS file that cannot be read is a config error at start-up, not a retry loop."""
    if not isinstance(value, str | Path):
        raise PydanticCustomError("file", "expected a file path")
    path = Path(value)
    try:
        path.read_bytes()
    except OSError as error:
        raise PydanticCustomError(
            "file", "cannot read {path}: {reason}", {"path": str(path), "reason": error.strerror}
        ) from error
    return path


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentSection(_Section):
    """`[agent]`: who this host is and where it keeps its state."""

    name: str = Field(default_factory=socket.gethostname, min_length=1)
    """The hostname reported to the control plane."""
    state_dir: Path | None = None
    """Where the credential lives; unset: see `default_state_dir`."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Operator labels sent in Hello, e.g. `{ zone = "rack-4" }`."""


class ControlPlaneSection(_Section):
    """`[control_plane]`: where to connect and how to join."""

    address: str
    """`host:port` of the control plane's gRPC listener."""
    join_token: str | None = Field(default=None, min_length=1, repr=False)
    """A one-time `tjt_…` token; only used while no credential is stored."""
    join_token_file: Annotated[TokenFile, PlainValidator(_read_token_file)] | None = None
    """A file holding the join token instead (read at load)."""
    reconnect_initial_s: float = Field(default=0.5, gt=0)
    """Upper bound of the first reconnect delay (full-jitter backoff)."""
    reconnect_max_s: float = Field(default=15.0, gt=0)
    """Cap of the reconnect delay."""
    connect_timeout_s: float = Field(default=10.0, gt=0)
    """How long a Join call or the wait for Welcome may take."""
    tls_ca_file: Annotated[Path, PlainValidator(_readable_file)] | None = None
    """PEM CA bundle the control plane's certificate must chain to; set, the agent uses TLS."""
    tls_cert_file: Annotated[Path, PlainValidator(_readable_file)] | None = None
    """PEM client certificate naming this machine (mutual TLS); set, the agent uses TLS."""
    tls_key_file: Annotated[Path, PlainValidator(_readable_file)] | None = None
    """The private key of `tls_cert_file`."""
    tls_server_name: str | None = Field(default=None, min_length=1)
    """The name to check the server certificate against, when `address` is an IP or alias."""

    @field_validator("address")
    @classmethod
    def _check_address(cls, address: str) -> str:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= MAX_PORT:
            raise PydanticCustomError(
                "address",
                "expected host:port with a port in 1..65535, got '{address}'",
                {"address": address},
            )
        return address

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        if self.join_token is not None and self.join_token_file is not None:
            raise PydanticCustomError("token_choice", "set join_token or join_token_file, not both")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise PydanticCustomError("tls_pair", "set tls_cert_file and tls_key_file together")
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise PydanticCustomError("backoff", "reconnect_max_s must be >= reconnect_initial_s")
        return self

    def tls(self) -> ClientTls | None:
        """TLS settings for the channel; None: plaintext (no tls_* key set)."""
        if self.tls_ca_file is None and self.tls_cert_file is None:
            return None
        return ClientTls(
            self.tls_ca_file, self.tls_cert_file, self.tls_key_file, self.tls_server_name
        )

    def token(self) -> str | None:
        """The join token from whichever field set it."""
        if self.join_token_file is not None:
            return self.join_token_file.token
        return self.join_token


class TelemetrySection(_Section):
    """`[telemetry]`: what the host probe measures."""

    disk_path: Path = Path("/")
    """The filesystem whose usage is reported (the workspace)."""


class S3Section(_Section):
    """`[snapshot.s3]`: how to reach an S3-compatible store (credentials: the usual AWS chain)."""

    endpoint_url: str | None = None
    """For MinIO, Ceph, R2, …; unset: AWS's endpoint for the region."""
    region: str | None = None
    """The bucket's region; unset: the AWS chain's (AWS_REGION, ~/.aws/config)."""
    max_attempts: int = Field(default=8, ge=1, le=30)
    """Attempts per request, with exponential backoff between them."""
    multipart_threshold_mib: int = Field(default=64, ge=5)
    """Objects at least this large are uploaded in parts."""


class SnapshotSection(_Section):
    """`[snapshot]`: what to snapshot and where the repository lives."""

    workspace: Path | None = None
    """The directory snapshotted on hibernate and restored on wake."""
    repository: str | None = None
    """`s3://bucket/prefix`, `file:///path` or a plain directory path."""
    compression: str = "zstd:1"
    """`zstd[:level]` (1..19), `lz4` or `none`; chunks that do not shrink are stored raw."""
    pack_size_mib: int = Field(default=16, ge=1, le=512)
    """Target size of a pack object."""
    threads: int = Field(default=0, ge=0, le=256)
    """Worker threads for hashing, compression and I/O; 0: one per core, at least 4."""
    exclude: list[str] = Field(default_factory=list)
    """Glob patterns (relative to the workspace) left out of snapshots, e.g. `.cache/**`."""
    chunk_cache_mib: int = Field(default=20480, ge=0)
    """Bound of the local cache of prefetched chunks (warm standbys), least recently used
    evicted first; 0 turns prefetch off."""
    key_file: Path | None = None
    """A file holding the 32-byte key (hex or base64, mode 0600) that opens an encrypted
    repository; `torpor-agent snapshot init` makes one with `--new-key-file`. The daemon
    needs none: the control plane hands each instance's key over the agent stream."""
    trust_ownership: bool = False
    """Restore owners and setuid/setgid bits as the snapshot recorded them. Off: restored
    entries take the owner of the directory restored into and lose setuid/setgid, because
    whoever can write the repository could otherwise plant a root-owned setuid program."""
    s3: S3Section = Field(default_factory=S3Section)

    @field_validator("compression")
    @classmethod
    def _check_compression(cls, value: str) -> str:
        name, _, level = value.partition(":")
        valid = (name == "zstd" and (not level or (level.isdigit() and 1 <= int(level) <= 19))) or (
            name in ("lz4", "none") and not level
        )
        if not valid:
            raise PydanticCustomError(
                "compression",
                "expected zstd, zstd:LEVEL (1..19), lz4 or none, got '{value}'",
                {"value": value},
            )
        return value


class LogSection(_Section):
    """`[log]`: how the agent writes to stderr (journald adds the timestamps)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class AgentConfig(_Section):
    """The whole `agent.toml`."""

    agent: AgentSection = Field(default_factory=AgentSection)
    control_plane: ControlPlaneSection | None = None
    """Required by `torpor-agent run`; snapshot commands work without it."""
    telemetry: TelemetrySection = Field(default_factory=TelemetrySection)
    snapshot: SnapshotSection = Field(default_factory=SnapshotSection)
    gpu: GpuSection = Field(default_factory=GpuSection)
    log: LogSection = Field(default_factory=LogSection)
    idle: IdleSection = Field(default_factory=IdleSection)
    fencing: FencingSection = Field(default_factory=FencingSection)
    preemption: PreemptionSection = Field(default_factory=PreemptionSection)

    def state_dir(self) -> Path:
        """The configured state directory, else the design.md default for this process."""
        if self.agent.state_dir is not None:
            return self.agent.state_dir
        return default_state_dir(os.environ, os.geteuid(), Path.home())


def default_state_dir(environ: Mapping[str, str], euid: int, home: Path) -> Path:
    """The agent's default: root alone means a service (see torpor.common.paths)."""
    return paths.default_state_dir(environ, euid, home, root_needs_systemd=False)


def load_config(path: Path) -> AgentConfig:
    """Reads and validates `path`; raises ConfigError naming every problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError([f"{path}: cannot read: {error.strerror}"]) from error
    except UnicodeDecodeError as error:
        raise ConfigError([f"{path}: not UTF-8 text (byte {error.start})"]) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: not valid TOML: {error}"]) from error
    try:
        return AgentConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError([_error_line(path, detail) for detail in error.errors()]) from error


def _error_line(path: Path, detail: ErrorDetails) -> str:
    where = ".".join(str(part) for part in detail["loc"])
    return f"{path}: {where}: {detail['msg']}" if where else f"{path}: {detail['msg']}"
