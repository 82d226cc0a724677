"""The real session sources: Jupyter over HTTP (a local stub server), kernel pids, ttys."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from torpor.agent.idle.jupyter import JupyterSignal, find_servers, kernel_of_pid
from torpor.agent.idle.sessions import SessionSignal, Terminal
from torpor.agent.idle.verdict import Verdict

pytestmark = pytest.mark.unit

TOKEN = "s3cret"


class KernelsHandler(http.server.BaseHTTPRequestHandler):
    kernels: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"token {TOKEN}":
            self.send_error(403)
            return
        if self.path != "/lab/api/kernels":
            self.send_error(404)
            return
        body = json.dumps(self.kernels).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def jupyter(tmp_path: Path) -> Iterator[Path]:
    """A stub server answering /lab/api/kernels and its runtime file; yields the runtime dir."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), KernelsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    url = f"http://127.0.0.1:{server.server_address[1]}/lab/"
    info = {"url": url, "token": TOKEN, "pid": os.getpid()}
    (runtime / f"jpserver-{os.getpid()}.json").write_text(json.dumps(info))
    (runtime / "jpserver-999999999.json").write_text(json.dumps(info | {"pid": 999_999_999}))
    yield runtime
    server.shutdown()
    server.server_close()


def test_kernels_are_read_from_the_servers_rest_api(jupyter: Path) -> None:
    KernelsHandler.kernels = [
        {"id": "k-1", "execution_state": "idle", "last_activity": "2024-01-02T03:04:05.000001Z"},
        {"id": "k-2", "execution_state": "busy", "last_activity": "2024-01-02T03:04:06Z"},
    ]
    servers = find_servers([jupyter])
    assert len(servers) == 1  # the file of a dead server is skipped
    state = JupyterSignal(lambda: servers).read()
    assert state.reading.verdict is Verdict.BUSY
    assert state.reading.value == "2 kernels, 1 busy"
    assert not state.kernels["k-1"].busy
    assert state.kernels["k-1"].last_active_wall == pytest.approx(1704164645.000001)


def test_idle_kernels_report_their_last_activity(jupyter: Path) -> None:
    KernelsHandler.kernels = [
        {"id": "k-1", "execution_state": "idle", "last_activity": "2024-01-02T03:04:05Z"}
    ]
    reading = JupyterSignal(lambda: find_servers([jupyter])).read().reading
    assert reading.verdict is Verdict.IDLE
    assert reading.last_active_wall == pytest.approx(1704164645)


def test_a_server_that_cannot_answer_is_unknown(jupyter: Path) -> None:
    [server] = find_servers([jupyter])
    broken = type(server)(server.url, "wrong-token", server.pid)
    reading = JupyterSignal(lambda: [broken]).read().reading
    assert reading.verdict is Verdict.UNKNOWN
    assert "403" in reading.detail


def test_a_kernel_process_is_found_from_its_command_line(tmp_path: Path) -> None:
    connection_file = tmp_path / "kernel-4f1c-9a2b.json"
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "-f", str(connection_file)]
    )
    try:
        deadline = time.monotonic() + 5
        while kernel_of_pid(child.pid) != "4f1c-9a2b":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        child.kill()
        child.wait()
    assert kernel_of_pid(os.getpid()) is None


def test_terminals_report_their_last_input() -> None:
    signal = SessionSignal(
        lambda: [Terminal("ana", "pts/1", "10.0.0.9"), Terminal("bo", "", "")],
        {"pts/1": 1234.0}.__getitem__,
    )
    reading = signal.read()
    assert reading.verdict is Verdict.IDLE
    assert reading.value == "1: ana@10.0.0.9"
    assert reading.last_active_wall == 1234.0


def test_an_unreadable_terminal_is_unknown() -> None:
    def stat(_terminal: str) -> float:
        raise FileNotFoundError("/dev/pts/9")

    signal = SessionSignal(lambda: [Terminal("ana", "pts/9", "h")], stat)
    assert signal.read().verdict is Verdict.UNKNOWN
