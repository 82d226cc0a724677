"""`torpor-agent` as a process: systemd notifications, SIGTERM, exit statuses, error output."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.agent.fake_control_plane import FakeControlPlane
from tests.support.processes import BIN, Agent
from torpor.common.version import torpor_version

pytestmark = pytest.mark.integration

EX_CONFIG = 78
AGENT = str(BIN / "torpor-agent")


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)
    yield sock
    sock.close()


async def notification(sock: socket.socket, prefix: str, timeout_s: float = 10) -> str:
    """The next datagram starting with `prefix` (skipping others, e.g. STATUS= lines)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        while True:
            message = (await loop.sock_recv(sock, 4096)).decode()
            if message.startswith(prefix):
                return message


def run_agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGENT, *args], capture_output=True, text=True, timeout=30, check=False)


async def test_ready_then_sigterm_says_goodbye_and_exits_zero(
    plane: FakeControlPlane, notify_socket: socket.socket, tmp_path: Path
) -> None:
    agent = Agent("gpu-7", tmp_path / "agent", plane.address, "tjt_ok")
    agent.start({"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "200000"})
    try:
        assert await notification(notify_socket, "READY=1") == "READY=1"
        assert await notification(notify_socket, "WATCHDOG=1") == "WATCHDOG=1"
        hello = await plane.service.next("hello", timeout_s=10)
        assert hello.hello.hostname == "gpu-7"
        assert "connected to" in await notification(notify_socket, "STATUS=connected")
        await plane.service.next("telemetry")
        assert await asyncio.to_thread(agent.stop, signal.SIGTERM) == 0
    finally:
        if agent.process is not None:
            agent.process.kill()
    assert (await plane.service.next("event", timeout_s=2)).event.kind == "agent.stopping"
    assert await notification(notify_socket, "STOPPING=1") == "STOPPING=1"
    assert "Traceback" not in agent.log()


async def test_refused_join_token_exits_78_with_one_line(
    plane: FakeControlPlane, tmp_path: Path
) -> None:
    plane.service.join_refusal = "join token not recognised"
    agent = Agent("gpu-7", tmp_path / "agent", plane.address, "tjt_bad")
    agent.start()
    assert agent.process is not None
    assert await asyncio.to_thread(agent.process.wait, 30) == EX_CONFIG
    errors = [line for line in agent.log().splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1
    assert "join token refused by the control plane: join token not recognised" in errors[0]
    assert "Traceback" not in agent.log()


def test_invalid_config_exits_78_naming_every_error(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        '[agent]\ncolour = "blue"\n[control_plane]\naddress = "nohost"\n'
        'reconnect_initial_s = "soon"\n[log]\nlevel = "loud"\n'
    )
    done = run_agent("run", "--config", str(config))
    assert done.returncode == EX_CONFIG
    lines = done.stderr.splitlines()
    assert lines[0] == "torpor-agent: invalid configuration:"
    assert [line.split(": ")[1] for line in lines[1:]] == [
        "agent.colour",
        "control_plane.address",
        "control_plane.reconnect_initial_s",
        "log.level",
    ]
    assert "Traceback" not in done.stderr


def test_missing_config_exits_78(tmp_path: Path) -> None:
    done = run_agent("run", "--config", str(tmp_path / "absent.toml"))
    assert done.returncode == EX_CONFIG
    assert done.stderr == (
        "torpor-agent: invalid configuration:\n"
        f"{tmp_path / 'absent.toml'}: cannot read: No such file or directory\n"
    )


def test_version() -> None:
    done = run_agent("version")
    assert (done.returncode, done.stdout) == (0, f"torpor-agent {torpor_version()}\n")
