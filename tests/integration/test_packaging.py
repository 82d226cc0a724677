"""packaging/: the systemd units pass `systemd-analyze verify`, install-agent.sh installs
into a throw-away root and is idempotent, and the sdist carries what operators install from.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

from tests.support.certs import TestCA
from tests.support.processes import BIN

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
INSTALL = PACKAGING / "install-agent.sh"
# The test root has no registry: install the wheel alone (its dependencies are pip's job).
PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation")
OFFLINE = {**os.environ, "PIP_NO_DEPS": "1", "PIP_NO_INDEX": "1"}


def systemd_analyze() -> str:
    """The binary; in CI a missing one fails (make test installs it), elsewhere it skips."""
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing: `make systemd-tools` installs it")
        pytest.skip("systemd-analyze is missing: run `make systemd-tools` (Debian's systemd)")
    return found


def verify(unit: Path, executable_dir: Path, tmp_path: Path) -> None:
    """verify needs ExecStart's binary to exist: point a copy at `executable_dir`."""
    copy = tmp_path / unit.name
    lines = unit.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("ExecStart="):
            command = line.removeprefix("ExecStart=").split()
            command[0] = str(executable_dir / Path(command[0]).name)
            lines[index] = "ExecStart=" + " ".join(command)
    copy.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [systemd_analyze(), "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


@pytest.mark.parametrize("unit", ["torpor-agent.service", "torpor-controlplane.service"])
def test_units_pass_systemd_analyze_verify(unit: str, tmp_path: Path) -> None:
    verify(PACKAGING / unit, BIN, tmp_path)


def test_the_agent_unit_is_a_hardened_watchdogged_notify_service() -> None:
    service = dict(
        line.split("=", 1)
        for line in (PACKAGING / "torpor-agent.service").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure" and service["RestartPreventExitStatus"] == "78"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "full"
    assert service["ProtectHome"] == "read-only" and service["StateDirectory"] == "torpor"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP_WHEEL, "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("torpor-*.whl")
    return built


def install(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(INSTALL), "--root", str(root), "--python", sys.executable, *args],
        env=OFFLINE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every path outside the venv's library, with its mode and (for files) content hash."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if "/venv/lib" in f"/{relative}" or "__pycache__" in relative:
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        found[relative] = (path.stat().st_mode & 0o7777, digest)
    return found


def test_install_agent_twice_into_a_throwaway_root(
    wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    ca = TestCA()
    pki = tmp_path / "pki"
    pki.mkdir()
    (pki / "ca.pem").write_bytes(ca.pem)
    cert, key = ca.host("gpu-01").write(pki, "gpu-01")
    first = install(
        root,
        *("--control-plane", "cp.example:8767", "--join-token", "tjt_first"),
        *("--wheel", str(wheel), "--workspace", "/home/ml/work", "--no-start"),
        *("--tls-ca", str(pki / "ca.pem"), "--tls-cert", str(cert), "--tls-key", str(key)),
    )
    assert first.returncode == 0, first.stderr
    assert "not started" in first.stdout

    conf = root / "etc/torpor"
    config = tomllib.loads((conf / "agent.toml").read_text())
    assert config["control_plane"] == {
        "address": "cp.example:8767",
        "join_token_file": "/etc/torpor/join-token",
        "tls_ca_file": "/etc/torpor/tls/ca.pem",
        "tls_cert_file": "/etc/torpor/tls/agent.crt",
        "tls_key_file": "/etc/torpor/tls/agent.key",
    }
    assert config["log"] == {"format": "json"}
    assert (conf / "join-token").read_text() == "tjt_first\n"
    for secret in ("agent.toml", "join-token", "tls/agent.key"):
        assert (conf / secret).stat().st_mode & 0o777 == 0o600, secret
    unit = (root / "etc/systemd/system/torpor-agent.service").read_text()
    assert "ExecStart=/opt/torpor/venv/bin/torpor-agent run --config /etc/torpor/agent.toml" in unit
    dropin = root / "etc/systemd/system/torpor-agent.service.d/workspace.conf"
    assert "ReadWritePaths=/home/ml/work" in dropin.read_text()
    venv = root / "opt/torpor/venv"
    imported = subprocess.run(
        [str(venv / "bin/python"), "-c", "import torpor.common.tls, torpor.agent.cli"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "No module named 'torpor" not in imported.stderr  # its dependencies are not here
    assert (venv / "bin/torpor-agent").exists()
    verify(root / "etc/systemd/system/torpor-agent.service", venv / "bin", tmp_path)

    before = tree(root)
    again = install(
        root,
        *("--control-plane", "other:1", "--join-token", "tjt_second", "--wheel", str(wheel)),
        *("--workspace", "/home/ml/work", "--no-start"),
        *("--tls-ca", str(pki / "ca.pem"), "--tls-cert", str(cert), "--tls-key", str(key)),
    )
    assert again.returncode == 0, again.stderr
    assert "keeping /etc/torpor/agent.toml" in again.stdout
    assert tree(root) == before  # same files, modes and bytes: the join token kept too


def test_a_first_install_without_an_address_writes_nothing(wheel: Path, tmp_path: Path) -> None:
    refused = install(tmp_path / "root", "--join-token", "tjt_x", "--wheel", str(wheel))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "install-agent.sh: first install: pass --control-plane HOST:PORT"
    ]
    assert not (tmp_path / "root").exists()


def test_the_sdist_carries_the_packaging(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--no-isolation",
            "--outdir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (sdist,) = tmp_path.glob("torpor-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in ("packaging/install-agent.sh", "packaging/torpor-agent.service", "docs/tls.md"):
        assert needed in names, needed
