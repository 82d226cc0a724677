"""One runner per snapshot tool, all the same shape, so the benchmark treats them alike.

Each runner owns a repository directory and runs the real command line: `init(repo)`, then
`backup(src)` (first, then after the mutation), `restore(dst)` of the latest snapshot, and
`repo_size()`. Every command runs under `/usr/bin/time -f %M`, the only portable way to get
the peak resident memory of *that* run (getrusage(RUSAGE_CHILDREN) is a high-water mark over
every child the benchmark ever had). For a pipeline it is the largest single process.

torpor's runner codes against the snapshot CLI contract (a TOML config, `create --json`,
`restore latest --target`); until `torpor-agent snapshot` exists it reports itself
unavailable instead of producing a number.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GNU_TIME = "/usr/bin/time"


class ToolError(RuntimeError):
    """A command of a tool failed: the benchmark reports it in that tool's row."""


@dataclass
class Timing:
    wall_s: float  # the tool's own run, from start to exit
    peak_rss_mib: float | None  # None where /usr/bin/time is missing
    sync_s: float = 0.0  # flushing what it wrote (restores): `sync` right after it exits
    new_data: int | None = None  # what the tool says it stored anew, where it says
    stdout: str = ""


def _run(
    argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, sync: bool = False
) -> Timing:
    """Runs argv to completion; `sync` adds a timed flush of what it wrote (restores)."""
    handle, name = tempfile.mkstemp(prefix="torpor-bench-rss-")
    os.close(handle)
    rss_file = Path(name)
    timed = [GNU_TIME, "-f", "%M", "-o", name, *argv] if Path(GNU_TIME).exists() else argv
    try:
        started = time.perf_counter()
        done = subprocess.run(
            timed,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        sync_s = 0.0
        if sync:
            flushed = time.perf_counter()
            os.sync()
            sync_s = time.perf_counter() - flushed
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ToolError(f"{' '.join(argv[:3])} exited {done.returncode}: {' | '.join(tail)}")
        rss: float | None = None
        try:
            rss = int(rss_file.read_text().strip().splitlines()[-1]) / 1024
        except (OSError, ValueError, IndexError):
            rss = None  # no /usr/bin/time: the column shows "-"
    finally:
        rss_file.unlink(missing_ok=True)
    return Timing(wall, rss, sync_s, None, done.stdout)


def tree_size(path: Path) -> int:
    """Apparent bytes of the regular files under path: what an object store would bill."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            full = Path(dirpath) / name
            if full.is_file() and not full.is_symlink():
                total += full.stat().st_size
    return total


class Tool:
    """Base: a name, a repository, and the four operations."""

    name = "tool"
    reference = True  # False for torpor: the thing measured, not a yardstick

    def __init__(self) -> None:
        self.repo = Path()

    def unavailable(self) -> str | None:
        """Why this tool cannot run here, or None."""
        return None

    def init(self, repo: Path) -> None:
        self.repo = repo
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir(parents=True)

    def backup(self, src: Path) -> Timing:
        raise NotImplementedError

    def restore(self, dst: Path) -> Timing:
        raise NotImplementedError

    def repo_size(self) -> int:
        return tree_size(self.repo)


def _missing(binary: str, package: str) -> str | None:
    if shutil.which(binary):
        return None
    return f"{binary} not installed (apt-get install {package})"


class Restic(Tool):
    """restic with its defaults: repository v2, compression auto (zstd fastest)."""

    name = "restic"

    def unavailable(self) -> str | None:
        return _missing("restic", "restic")

    def _env(self) -> dict[str, str]:
        return {
            "RESTIC_REPOSITORY": str(self.repo / "repo"),
            "RESTIC_PASSWORD": "bench",
            "RESTIC_CACHE_DIR": str(self.repo.parent / f"{self.repo.name}-cache"),
        }

    def init(self, repo: Path) -> None:
        super().init(repo)
        shutil.rmtree(self._env()["RESTIC_CACHE_DIR"], ignore_errors=True)
        _run(["restic", "init", "--quiet"], env=self._env())

    def version(self) -> str:
        done = subprocess.run(["restic", "version"], capture_output=True, text=True, check=False)
        return " ".join(done.stdout.split()[:2])

    def backup(self, src: Path) -> Timing:
        # "." from inside src: the snapshot's root is src's content, restored at --target.
        timing = _run(["restic", "backup", "--json", "."], cwd=src, env=self._env())
        for line in reversed(timing.stdout.splitlines()):
            if '"summary"' in line:
                timing.new_data = int(json.loads(line).get("data_added", 0))
                break
        return timing

    def restore(self, dst: Path) -> Timing:
        return _run(
            ["restic", "restore", "latest", "--target", str(dst)], env=self._env(), sync=True
        )


class Borg(Tool):
    """borg 1.x, unencrypted repository, lz4: its fastest sensible setting."""

    name = "borg lz4"

    def __init__(self) -> None:
        super().__init__()
        self.archives = 0

    def unavailable(self) -> str | None:
        return _missing("borg", "borgbackup")

    def _env(self) -> dict[str, str]:
        return {
            "BORG_BASE_DIR": str(self.repo.parent / f"{self.repo.name}-base"),
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
            "BORG_DELETE_I_KNOW_WHAT_I_AM_DOING": "YES",
        }

    def init(self, repo: Path) -> None:
        super().init(repo)
        shutil.rmtree(self._env()["BORG_BASE_DIR"], ignore_errors=True)
        self.archives = 0
        _run(["borg", "init", "-e", "none", str(repo / "repo")], env=self._env())

    def backup(self, src: Path) -> Timing:
        self.archives += 1
        archive = f"{self.repo / 'repo'}::snap-{self.archives}"
        argv = ["borg", "create", "--compression", "lz4", "--stats", "--json", archive, "."]
        timing = _run(argv, cwd=src, env=self._env())
        stats = json.loads(timing.stdout)["archive"]["stats"]
        timing.new_data = int(stats["deduplicated_size"])
        return timing

    def restore(self, dst: Path) -> Timing:
        archive = f"{self.repo / 'repo'}::snap-{self.archives}"
        dst.mkdir(parents=True, exist_ok=True)
        return _run(["borg", "extract", archive], cwd=dst, env=self._env(), sync=True)


class TarZstd(Tool):
    """`tar | zstd -1 -T0`: no deduplication, so every backup is a full one. The floor for a
    first snapshot that reads and compresses everything."""

    name = "tar|zstd -1"

    def __init__(self) -> None:
        super().__init__()
        self.archives = 0

    def unavailable(self) -> str | None:
        return _missing("zstd", "zstd")

    def init(self, repo: Path) -> None:
        super().init(repo)
        self.archives = 0

    def _archive(self) -> Path:
        return self.repo / f"snap-{self.archives}.tar.zst"

    def backup(self, src: Path) -> Timing:
        self.archives += 1
        script = 'tar -C "$1" -cf - . | zstd -1 -T0 -q -o "$2"'
        timing = _run(["bash", "-o", "pipefail", "-c", script, "-", str(src), str(self._archive())])
        timing.new_data = self._archive().stat().st_size
        return timing

    def restore(self, dst: Path) -> Timing:
        dst.mkdir(parents=True, exist_ok=True)
        script = 'zstd -dc -q "$1" | tar -C "$2" -xf -'
        argv = ["bash", "-o", "pipefail", "-c", script, "-", str(self._archive()), str(dst)]
        return _run(argv, sync=True)


class CopyTree(Tool):
    """`cp -a`: not a snapshot tool, the floor for a restore (writing the same new files)."""

    name = "cp -a"

    def __init__(self) -> None:
        super().__init__()
        self.src = Path()

    def backup(self, src: Path) -> Timing:
        self.src = src  # nothing stored: restore copies the live tree
        return Timing(0.0, None)

    def restore(self, dst: Path) -> Timing:
        dst.mkdir(parents=True, exist_ok=True)
        return _run(["cp", "-a", f"{self.src}/.", str(dst)], sync=True)

    def repo_size(self) -> int:
        return 0


def torpor_agent() -> str:
    """The venv's torpor-agent, next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "torpor-agent"
    return str(beside) if beside.exists() else (shutil.which("torpor-agent") or "torpor-agent")


class Torpor(Tool):
    """torpor's snapshot CLI at one compression setting, against a local directory repo;
    encrypted (a key file, as the control plane's repositories are) unless told not to."""

    reference = False

    def __init__(self, compression: str = "zstd:3", *, encrypted: bool = True) -> None:
        super().__init__()
        self.compression = compression
        self.encrypted = encrypted
        self.name = f"torpor {compression}" + (" enc" if encrypted else "")
        self.config = Path()
        self.key_file = Path()

    def unavailable(self) -> str | None:
        try:
            done = subprocess.run(
                [torpor_agent(), "snapshot", "--help"], capture_output=True, text=True, check=False
            )
        except OSError as error:
            return f"not available: {error}"
        if done.returncode != 0:
            return "not available: `torpor-agent snapshot` is not implemented on this branch yet"
        return None

    def init(self, repo: Path) -> None:
        super().init(repo)
        self.config = repo.parent / f"{repo.name}.toml"
        self.key_file = repo.parent / f"{repo.name}.key"
        self.key_file.unlink(missing_ok=True)
        encryption = ["--new-key-file", str(self.key_file)] if self.encrypted else []
        flag = ["--encryption", "repokey" if self.encrypted else "none"]
        where = ["--repository", str(self.repo / "repo")]
        _run([torpor_agent(), "snapshot", *where, "init", *flag, *encryption])

    def _write_config(self, src: Path) -> None:
        key = f"key_file = {json.dumps(str(self.key_file))}\n" if self.encrypted else ""
        self.config.write_text(
            "[snapshot]\n"
            f"workspace = {json.dumps(str(src))}\n"
            f"repository = {json.dumps(str(self.repo / 'repo'))}\n"
            f"compression = {json.dumps(self.compression)}\n" + key
        )

    def backup(self, src: Path) -> Timing:
        self._write_config(src)
        timing = _run(
            [torpor_agent(), "snapshot", "--config", str(self.config), "create", "--json"]
        )
        summary: dict[str, Any] = json.loads(timing.stdout.strip().splitlines()[-1])
        timing.new_data = int(summary["stored_new"])
        return timing

    def restore(self, dst: Path) -> Timing:
        argv = [torpor_agent(), "snapshot", "--config", str(self.config)]
        return _run([*argv, "restore", "latest", "--target", str(dst)], sync=True)


def drop_caches() -> bool:
    """Flush and drop the page cache, so each phase reads from disk; False where not allowed
    (not root, or a container), and the table then says 'warm cache'."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True
