"""A real S3 endpoint for tests: moto in server mode, as a subprocess on a free port.

Server mode rather than moto's in-process mock: the store then talks HTTP over a real
socket, with botocore's retries, signing and checksums all in play. One server per
session (it takes ~2 s to start); one fresh bucket per test. Fake credentials are set
for the server and, through monkeypatch, for the test's own clients, so nothing of the
host's AWS configuration leaks in and nothing of ours leaks into other tests.
"""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.support.processes import free_port, stop_process, wait_until

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
START_TIMEOUT_S = 30


@dataclass(frozen=True)
class S3Bucket:
    """An empty bucket on the test server."""

    endpoint_url: str
    name: str


class MotoServer:
    """`python -m moto.server` on a free port; `extra_env` turns on e.g. authentication."""

    def __init__(self, log: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._log = log
        self._env = {**os.environ, **FAKE_CREDENTIALS, **(extra_env or {})}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=self._env,
            stdout=self._log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, START_TIMEOUT_S, f"moto server on {self.endpoint_url}")

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, 15, 10)  # SIGTERM
            self._process = None

    def _answers(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"moto server exited with {self._process.returncode}: {self._log}")
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):  # noqa: S310
                return True
        except urllib.error.HTTPError:
            return True  # it answered, whatever it said
        except OSError:
            return False


def _moto(tmp_path_factory: pytest.TempPathFactory, extra_env: dict[str, str]) -> Iterator[str]:
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = MotoServer(log, extra_env)
    server.start()
    try:
        yield server.endpoint_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL of a moto S3 server that accepts any credentials."""
    yield from _moto(tmp_path_factory, {})


@pytest.fixture(scope="session")
def moto_server_with_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server that checks credentials: only keys created in its IAM are accepted."""
    yield from _moto(tmp_path_factory, {"INITIAL_NO_AUTH_ACTION_COUNT": "0"})


_bucket_numbers = itertools.count(1)
_session_tag = secrets.token_hex(3)


@pytest.fixture
def s3_bucket(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A fresh bucket, with the fake credentials in this test's environment only."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    # The host's ~/.aws must not choose a profile, region or endpoint for the test.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    name = f"torpor-test-{_session_tag}-{next(_bucket_numbers)}"  # lowercase, DNS-safe
    client = boto3.session.Session().client("s3", endpoint_url=moto_server)
    client.create_bucket(Bucket=name)
    client.close()
    return S3Bucket(moto_server, name)
