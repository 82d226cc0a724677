"""Mutual TLS end to end: a real control plane, a real agent and torporctl, each with
certificates from one throw-away CA (docs/tls.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.certs import TestCA
from tests.support.processes import BIN, Agent, ControlPlane, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def plane(tmp_path: Path, ca: TestCA) -> Iterator[ControlPlane]:
    pki = tmp_path / "pki"
    pki.mkdir()
    cert, key = ca.server().write(pki, "server")
    (pki / "ca.pem").write_bytes(ca.pem)
    tls = {
        "TORPOR_GRPC_TLS_CERT": str(cert),
        "TORPOR_GRPC_TLS_KEY": str(key),
        "TORPOR_GRPC_TLS_CLIENT_CA": str(pki / "ca.pem"),
    }
    running = ControlPlane(tmp_path / "cp", extra_env=tls)
    running.start()
    yield running
    running.stop(signal.SIGKILL)


def ctl(
    plane: ControlPlane, token: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "torporctl"), "--server", f"localhost:{plane.grpc_port}", *args],
        env={**os.environ, "TORPOR_ADMIN_TOKEN": token, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_agent_and_torporctl_present_certificates(
    plane: ControlPlane, ca: TestCA, tmp_path: Path
) -> None:
    pki = tmp_path / "pki"
    host_cert, host_key = ca.host("gpu-tls").write(pki, "gpu-tls")
    op_cert, op_key = ca.operator("alice").write(pki, "alice")
    agent = Agent(
        "gpu-tls",
        tmp_path / "agent",
        f"localhost:{plane.grpc_port}",
        plane.cli("tokens", "create"),
        control_plane_extra=(
            f'tls_ca_file = "{pki / "ca.pem"}"\n'
            f'tls_cert_file = "{host_cert}"\ntls_key_file = "{host_key}"'
        ),
    )
    agent.start()
    old_cert, old_key = ca.host("gpu-old", expired=True).write(pki, "gpu-old")
    expired = Agent(
        "gpu-old",
        tmp_path / "expired",
        f"localhost:{plane.grpc_port}",
        plane.cli("tokens", "create"),
        control_plane_extra=(
            f'tls_ca_file = "{pki / "ca.pem"}"\n'
            f'tls_cert_file = "{old_cert}"\ntls_key_file = "{old_key}"'
        ),
    )
    expired.start()
    token = plane.cli("admin-tokens", "create", "ops")
    operator = {"TORPOR_CA": str(pki / "ca.pem"), "TORPOR_CERT": str(op_cert)}
    operator["TORPOR_KEY"] = str(op_key)

    def connected() -> bool:
        listed = ctl(plane, token, "-o", "json", "hosts", "--state", "connected", **operator)
        assert listed.returncode == 0, listed.stderr
        return [h["hostname"] for h in json.loads(listed.stdout)] == ["gpu-tls"]

    try:
        wait_until(connected, 30, f"the agent to connect over mutual TLS; log:\n{agent.log()}")
        hint = "tls_cert_file is unexpired"
        wait_until(lambda: hint in expired.log(), 30, "the expired agent to log the TLS hint")
        assert expired.process is not None and expired.process.poll() is None  # it retries
    finally:
        agent.stop()
        expired.stop()

    no_cert = ctl(plane, token, "--ca", str(pki / "ca.pem"), "hosts")
    assert no_cert.returncode == 3
    assert len(no_cert.stderr.strip().splitlines()) == 1
    assert "TLS handshake" in no_cert.stderr and "--cert" in no_cert.stderr
    plaintext = ctl(plane, token, "hosts")
    assert plaintext.returncode == 3
    assert "may require TLS" in plaintext.stderr
    as_agent = ctl(
        plane,
        token,
        "--ca",
        str(pki / "ca.pem"),
        "--cert",
        str(host_cert),
        "--key",
        str(host_key),
        "hosts",
    )
    assert as_agent.returncode == 1
    assert "operator certificate" in as_agent.stderr
