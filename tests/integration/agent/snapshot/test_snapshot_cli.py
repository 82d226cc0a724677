"""`torpor-agent snapshot …` as a user runs it: real processes, a local or S3 repository."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.s3server import S3Bucket
from tests.support.trees import describe, make_tree

pytestmark = pytest.mark.integration

AGENT = str(Path(sys.executable).parent / "torpor-agent")


def write_config(tmp_path: Path, workspace: Path, repository: str, extra: str = "") -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[agent]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[snapshot]\nworkspace = "{workspace}"\nrepository = "{repository}"\n'
        f"pack_size_mib = 1\n{extra}"
    )
    return path


def snapshot(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [AGENT, "snapshot", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args}: exit {result.returncode}\n{result.stderr}")
    return result


def last_json(result: subprocess.CompletedProcess[str]) -> object:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_whole_cycle_on_a_local_repository(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    config = write_config(tmp_path, source, str(tmp_path / "repo"))
    first = last_json(snapshot(config, "create", "--json", "--tag", "nightly"))
    assert isinstance(first, dict) and first["files"] == 7 and first["bytes_new"] > 0
    (source / "added.txt").write_text("new\n")
    second = last_json(snapshot(config, "create", "--json"))
    assert isinstance(second, dict) and second["parent"] == first["id"]
    assert second["bytes_read"] == 4  # only the new file was read
    listing = last_json(snapshot(config, "list", "--json"))
    assert [s["id"] for s in listing] == [first["id"], second["id"]]  # type: ignore[union-attr]
    shown = snapshot(config, "show", first["id"][:10], "--tree").stdout
    assert "nightly" in shown and "big.bin" in shown
    snapshot(config, "restore", "latest", "--target", str(tmp_path / "dst"))
    assert describe(tmp_path / "dst") == describe(source)
    assert "ok" in snapshot(config, "verify", "--read-data").stdout
    forgot = snapshot(config, "forget", "--keep-last", "1", "--prune").stdout
    assert "removed 1 snapshot" in forgot and "deleted" in forgot
    assert len(last_json(snapshot(config, "list", "--json"))) == 1  # type: ignore[arg-type]


def test_an_s3_repository_over_http(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    source = make_tree(tmp_path / "src")
    extra = f'[snapshot.s3]\nendpoint_url = "{s3_bucket.endpoint_url}"\nregion = "us-east-1"\n'
    config = write_config(tmp_path, source, f"s3://{s3_bucket.name}/team/ws1", extra)
    created = last_json(snapshot(config, "create", "--json"))
    assert isinstance(created, dict)
    snapshot(config, "restore", created["id"][:12], "--target", str(tmp_path / "dst"))
    assert describe(tmp_path / "dst") == describe(source)
    assert snapshot(config, "verify", "--read-data", "--json").returncode == 0


def test_errors_are_one_line_with_the_fix(tmp_path: Path) -> None:
    config = write_config(tmp_path, tmp_path / "missing", str(tmp_path / "repo"))
    result = snapshot(config, "create", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "missing" in result.stderr
    listed = snapshot(config, "list", check=False)
    assert "no repository at" in listed.stderr and "Traceback" not in listed.stderr
    bad = write_config(tmp_path, tmp_path, str(tmp_path / "repo"), 'compression = "gzip"\n')
    refused = snapshot(bad, "list", check=False)
    assert refused.returncode == 78 and "snapshot.compression" in refused.stderr


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a repository on it fills up part way through a snapshot."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=False
    )
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("cannot mount a tmpfs for the full-disk test (CI runs as root)")
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_line_and_the_repository_stays_valid(
    tmp_path: Path, tiny_disk: Path
) -> None:
    source = make_tree(tmp_path / "src", big_bytes=8 * 1024 * 1024)
    config = write_config(tmp_path, source, str(tiny_disk / "repo"), 'compression = "none"\n')
    result = snapshot(config, "create", check=False)
    assert result.returncode == 1 and "no space left" in result.stderr
    assert result.stderr.strip().count("\n") == 0
    snapshot(config, "verify", "--read-data")  # exit 0: nothing half-written is referenced


def test_sigkill_at_many_points_leaves_a_valid_repository_that_the_next_create_reuses(
    tmp_path: Path,
) -> None:
    source = make_tree(tmp_path / "src", big_bytes=16 * 1024 * 1024)
    config = write_config(tmp_path, source, str(tmp_path / "repo"), 'compression = "zstd:19"\n')
    started = time.monotonic()
    timing = last_json(snapshot(config, "create", "--json"))
    full = time.monotonic() - started
    assert isinstance(timing, dict)
    # (every write boundary is covered in-process by test_snapshot_integrity; these are real kills)
    for attempt, fraction in enumerate((0.2, 0.45, 0.7, 0.9)):
        repo = tmp_path / f"repo{attempt}"
        config = write_config(tmp_path, source, str(repo), 'compression = "zstd:19"\n')
        process = subprocess.Popen(
            [AGENT, "snapshot", "--config", str(config), "create", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(full * fraction)
        process.send_signal(signal.SIGKILL)
        process.communicate()
        snapshot(config, "verify", "--read-data")
        finished = last_json(snapshot(config, "create", "--json"))
        assert isinstance(finished, dict)
        # packs the killed run made durable are adopted, not uploaded again
        uploaded = sum(p.stat().st_size for p in (repo / "data").rglob("*") if p.is_file())
        assert finished["stored_new"] <= uploaded
        snapshot(config, "restore", "latest", "--target", str(tmp_path / f"dst{attempt}"))
        assert describe(tmp_path / f"dst{attempt}") == describe(source)


def test_a_refused_credential_is_one_line(tmp_path: Path, moto_server_with_auth: str) -> None:
    source = make_tree(tmp_path / "src")
    extra = f'[snapshot.s3]\nendpoint_url = "{moto_server_with_auth}"\nregion = "us-east-1"\n'
    config = write_config(tmp_path, source, "s3://torpor-auth/ws", extra)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIAREVOKEDREVOKED00",
        "AWS_SECRET_ACCESS_KEY": "revoked",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    result = subprocess.run(
        [AGENT, "snapshot", "--config", str(config), "create"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "credentials were refused" in result.stderr


def test_a_permission_error_part_way_is_one_line_and_the_repository_stays_valid(
    tmp_path: Path,
) -> None:
    source = make_tree(tmp_path / "src", big_bytes=8 * 1024 * 1024)
    repo = tmp_path / "repo"
    config = write_config(tmp_path, source, str(repo), 'compression = "none"\n')
    snapshot(config, "create")
    (source / "more.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    snapshots = repo / "snapshots"
    subprocess.run(["chattr", "+i", str(snapshots)], check=True)  # root ignores chmod
    try:
        result = snapshot(config, "create", check=False)
    finally:
        subprocess.run(["chattr", "-i", str(snapshots)], check=True)
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
    assert str(snapshots) in result.stderr or "permission" in result.stderr.lower()
    snapshot(config, "verify", "--read-data")
    assert isinstance(last_json(snapshot(config, "create", "--json")), dict)
