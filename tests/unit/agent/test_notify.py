"""sd_notify by hand, against real datagram sockets."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from torpor.agent.notify import SystemdNotifier

pytestmark = pytest.mark.unit


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()


def receive_all(sock: socket.socket, count: int) -> list[str]:
    return [sock.recv(4096).decode() for _ in range(count)]


def test_messages_reach_the_socket(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    notifier.ready()
    notifier.status("connected to cp:8767\nas h-1")
    notifier.watchdog()
    notifier.stopping()
    assert receive_all(sock, 4) == [
        "READY=1",
        "STATUS=connected to cp:8767 as h-1",
        "WATCHDOG=1",
        "STOPPING=1",
    ]


def test_abstract_socket() -> None:
    name = f"torpor-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(4096) == b"READY=1"


def test_without_socket_nothing_happens() -> None:
    notifier = SystemdNotifier({})
    notifier.ready()
    notifier.stopping()
    assert notifier.watchdog_interval_s() is None


def test_vanished_socket_is_not_fatal(tmp_path: Path) -> None:
    SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).ready()


def test_watchdog_interval_is_half_the_timeout() -> None:
    assert SystemdNotifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval_s() == 15.0
    mine = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    assert SystemdNotifier(mine).watchdog_interval_s() == 2.0


def test_watchdog_for_another_process_or_invalid_is_none() -> None:
    other = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert SystemdNotifier(other).watchdog_interval_s() is None
    assert SystemdNotifier({"WATCHDOG_USEC": "soon"}).watchdog_interval_s() is None
    assert SystemdNotifier({"WATCHDOG_USEC": "0"}).watchdog_interval_s() is None
