"""Preemption sources (IMDSv2 against a small real HTTP server, a file, a signal) and the
watcher that tells the control plane once per stream until the deadline."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.support.idle import ManualClock
from torpor.agent.config import AgentConfig
from torpor.agent.outbox import Outbox
from torpor.agent.preemption.base import Notice
from torpor.agent.preemption.file import FileSource
from torpor.agent.preemption.imds import ImdsSource
from torpor.agent.preemption.settings import PreemptionSection
from torpor.agent.preemption.signals import SignalSource
from torpor.agent.preemption.watcher import PreemptionWatcher, source_of

pytestmark = pytest.mark.integration

TOKEN = "AQAEA-token"


class Imds:
    """IMDSv2's two endpoints, as EC2 answers them (token required, 404 until a reclaim)."""

    def __init__(self) -> None:
        self.action: dict[str, str] | None = None
        self.unauthorised = 0

    def handler(self) -> type[BaseHTTPRequestHandler]:
        imds = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                ok = self.path == "/latest/api/token" and self.headers.get(
                    "X-aws-ec2-metadata-token-ttl-seconds"
                )
                self._answer(200 if ok else 400, TOKEN if ok else "")

            def do_GET(self) -> None:
                if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
                    imds.unauthorised += 1
                    self._answer(401, "")
                elif self.path != "/latest/meta-data/spot/instance-action" or not imds.action:
                    self._answer(404, "Not Found")
                else:
                    self._answer(200, json.dumps(imds.action))

            def _answer(self, status: int, body: str) -> None:
                self.send_response(status)
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *_: object) -> None:
                pass

        return Handler


@pytest.fixture
def imds() -> Iterator[tuple[Imds, str]]:
    state = Imds()
    server = ThreadingHTTPServer(("127.0.0.1", 0), state.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_imds_answers_none_until_a_spot_action_then_its_time(imds: tuple[Imds, str]) -> None:
    state, url = imds
    source = ImdsSource(url)
    assert source.poll() is None
    state.action = {"action": "terminate", "time": "2026-03-04T05:06:07Z"}
    notice = source.poll()
    assert notice == Notice(
        datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC), "aws-imds", "spot instance-action: terminate"
    )
    assert state.unauthorised == 0


def test_imds_unreachable_is_an_oserror() -> None:
    with pytest.raises(OSError):
        ImdsSource("http://127.0.0.1:9", timeout_s=0.5).poll()


def test_file_source_reads_a_deadline_seconds_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "preempt"
    source = FileSource(path, notice_s=120)
    assert source.poll() is None
    path.write_text("2026-03-04T05:06:07Z\n")
    assert source.poll() == Notice(
        datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC), "file", f"{path} appeared"
    )
    for content, seconds in (("30", 30), ("", 120)):
        path.write_text(content)
        notice = source.poll()
        assert notice is not None
        left = (notice.deadline - datetime.now(UTC)).total_seconds()
        assert seconds - 5 < left <= seconds
    path.write_text("soon")
    with pytest.raises(OSError, match="expected an ISO 8601 time or seconds"):
        source.poll()


async def test_signal_source_notices_the_configured_signal() -> None:
    source = SignalSource("SIGUSR2", notice_s=90)
    loop = asyncio.get_running_loop()
    source.install(loop)
    try:
        assert source.poll() is None
        os.kill(os.getpid(), signal.SIGUSR2)
        await asyncio.sleep(0.05)  # the handler runs in the loop
        notice = source.poll()
        assert notice is not None and notice.detail == "received SIGUSR2"
        assert 80 < (notice.deadline - datetime.now(UTC)).total_seconds() <= 90
    finally:
        loop.remove_signal_handler(signal.SIGUSR2)


async def test_watcher_sends_once_per_stream_until_the_deadline(tmp_path: Path) -> None:
    clock = ManualClock(wall=datetime.now(UTC).timestamp())
    outbox = Outbox()
    path = tmp_path / "preempt"
    watcher = PreemptionWatcher(FileSource(path, 120), outbox, poll_s=5, clock=clock)
    watcher.on_link(True)
    path.write_text("60")  # before the first poll: the manual clock stays where it is
    await asyncio.wait_for(watcher.run(), timeout=5)
    first = (await outbox.get()).preemption_notice
    assert (first.source, first.detail) == ("file", f"{path} appeared")
    watcher.on_link(False)
    watcher.on_link(True)  # a reconnect: the control plane hears it again
    assert (await outbox.get()).preemption_notice == first
    clock.advance(61)
    watcher.on_link(True)  # past the deadline: nothing more to say
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(outbox.get(), timeout=0.1)


def test_config_keys_and_their_checks(tmp_path: Path) -> None:
    section = AgentConfig.model_validate(
        {"preemption": {"source": "file", "path": str(tmp_path / "p"), "notice_s": 30}}
    ).preemption
    assert isinstance(source_of(section), FileSource)
    assert source_of(PreemptionSection()) is None
    with pytest.raises(ValidationError, match="needs path"):
        PreemptionSection(source="file")
    with pytest.raises(ValidationError, match="expected a signal name"):
        PreemptionSection(source="signal", signal="SIGTERM")
    assert isinstance(source_of(PreemptionSection(source="aws-imds")), ImdsSource)
