"""Real torpor processes for end-to-end tests and `make demo`.

A control plane and agents run as the console scripts installed in the same
virtualenv as the running Python, on free localhost ports, with their state
in a folder the caller owns. Nothing here is a fake: every byte crosses a
real socket.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

BIN = Path(sys.executable).parent
T = TypeVar("T")


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """Polls `check` until it returns something truthy; fails naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen[bytes] | None, sig: int, timeout_s: float) -> int:
    """Sends `sig` and returns the exit status (negative: killed by a signal)."""
    assert process is not None, "not started"
    process.send_signal(sig)
    return process.wait(timeout_s)


@dataclass
class ControlPlane:
    """`torpor-controlplane serve` in a subprocess, plus its admin CLI."""

    state_dir: Path
    database_url: str | None = None
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "TORPOR_STATE_DIR": str(self.state_dir),
            "TORPOR_HTTP_HOST": "127.0.0.1",
            "TORPOR_HTTP_PORT": str(self.http_port),
            "TORPOR_GRPC_HOST": "127.0.0.1",
            "TORPOR_GRPC_PORT": str(self.grpc_port),
            **self.extra_env,
        }
        if self.database_url:
            env["TORPOR_DATABASE_URL"] = self.database_url
        return env

    def start(self, log: Path | None = None) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        out = (log or self.state_dir / "controlplane.log").open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "torpor-controlplane"), "serve"],
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        wait_until(self.ready, 30, f"the control plane on {self.http_url} to be ready")

    def ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"the control plane exited with {self.process.returncode}; "
                f"see {self.state_dir / 'controlplane.log'}"
            )
        try:
            return self.http("GET", "/api/v1/health/readiness")[0] == 200
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15) -> int:
        code = stop_process(self.process, sig, timeout_s)
        self.process = None
        return code

    def cli(self, *args: str) -> str:
        """Runs `torpor-controlplane ARGS` against the same state; returns its stdout."""
        done = subprocess.run(
            [str(BIN / "torpor-controlplane"), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"torpor-controlplane {' '.join(args)} failed: {done.stderr}")
        return done.stdout.strip()

    def http(self, method: str, path: str, token: str | None = None) -> tuple[int, Any]:
        """One HTTP request; returns the status and the decoded JSON body (or text)."""
        request = urllib.request.Request(self.http_url + path, method=method)  # noqa: S310
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode()


AGENT_CONFIG = """\
[agent]
name = "{name}"
state_dir = "{state_dir}"
labels = {{ demo = "true" }}

[control_plane]
address = "{address}"
join_token = "{token}"
reconnect_initial_s = 0.2
reconnect_max_s = {reconnect_max_s}
{control_plane_extra}

[telemetry]
disk_path = "{state_dir}"
"""


@dataclass
class Agent:
    """`torpor-agent run` in a subprocess with its own state folder and config."""

    name: str
    home: Path
    address: str
    join_token: str
    reconnect_max_s: float = 1.0
    control_plane_extra: str = ""
    """More `[control_plane]` lines (TLS files, ...)."""
    extra_config: str = ""
    """More TOML sections appended to the config (e.g. `[snapshot]`)."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.home / "agent.toml"

    @property
    def log_path(self) -> Path:
        return self.home / "agent.log"

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            AGENT_CONFIG.format(
                name=self.name,
                state_dir=self.home / "state",
                address=self.address,
                token=self.join_token,
                reconnect_max_s=self.reconnect_max_s,
                control_plane_extra=self.control_plane_extra,
            )
            + self.extra_config
        )
        self.process = subprocess.Popen(
            [str(BIN / "torpor-agent"), "run", "--config", str(self.config_path)],
            env={**os.environ, **(extra_env or {})},
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15) -> int:
        code = stop_process(self.process, sig, timeout_s)
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def torporctl(
    control_plane: ControlPlane, token: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """Runs `torporctl ARGS` against `control_plane` with an admin token."""
    env = {**os.environ, "TORPOR_SERVER": control_plane.grpc_address, "TORPOR_ADMIN_TOKEN": token}
    return subprocess.run(
        [str(BIN / "torporctl"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
