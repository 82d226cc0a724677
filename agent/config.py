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
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise PydanticCustomError("backoff", "reconnect_max_s must be >= reconnect_initial_s")
        return self

    def token(self) -> str | None:
        """The join token from whichever field set it."""
        if self.join_token_file is not None:
            return self.join_token_file.token
        return self.join_token


class TelemetrySection(_Section):
    """`[telemetry]`: what the host probe measures."""

    disk_path: Path = Path("/")
    """The filesystem whose usage is reported (the workspace)."""


class LogSection(_Section):
    """`[log]`: how the agent writes to stderr (journald adds the timestamps)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class AgentConfig(_Section):
    """The whole `agent.toml`."""

    agent: AgentSection = Field(default_factory=AgentSection)
    control_plane: ControlPlaneSection
    telemetry: TelemetrySection = Field(default_factory=TelemetrySection)
    log: LogSection = Field(default_factory=LogSection)

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
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: not valid TOML: {error}"]) from error
    try:
        return AgentConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError([_error_line(path, detail) for detail in error.errors()]) from error


def _error_line(path: Path, detail: ErrorDetails) -> str:
    where = ".".join(str(part) for part in detail["loc"])
    return f"{path}: {where}: {detail['msg']}" if where else f"{path}: {detail['msg']}"
