"""Forgetting snapshots of a local instance's repository through the agent's CLI.

The control plane must not import the agent, so it runs `torpor-agent snapshot
--repository <dir> …` as a subprocess: list what is there, unpin the doomed ones that are
pinned (the control plane already decided; a pin only guards against the agent's own
retention), then forget them and prune the data nothing references any more.

An encrypted repository's secret goes to the CLI in its environment (`TORPOR_SNAPSHOT_KEY`,
64 hex characters), never on its command line, which `ps` shows to every user.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ...errors import Unavailable
from ...repository_keys.secret import RepositoryKey

log = logging.getLogger(__name__)
CLI_TIMEOUT_S = 600.0
SNAPSHOT_KEY_ENV = "TORPOR_SNAPSHOT_KEY"


def cli_environment(key: RepositoryKey | None) -> dict[str, str]:
    """This process's environment with the repository's key, or without any (a key this
    process inherited must not open an unencrypted instance's repository by accident)."""
    env = {name: value for name, value in os.environ.items() if name != SNAPSHOT_KEY_ENV}
    if key is not None:
        env[SNAPSHOT_KEY_ENV] = key.hex()
    return env


async def _run(executable: Path, repository: Path, key: RepositoryKey | None, *args: str) -> str:
    """stdout of `torpor-agent snapshot --repository REPOSITORY ARGS`; Unavailable on error."""
    process = await asyncio.create_subprocess_exec(
        str(executable),
        "snapshot",
        "--repository",
        str(repository),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_environment(key),
    )
    try:
        async with asyncio.timeout(CLI_TIMEOUT_S):  # not wait_for: it can lose a cancel
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise Unavailable(
            f"torpor-agent snapshot {args[0]} took over {CLI_TIMEOUT_S:g} s"
        ) from None
    if process.returncode != 0:
        reason = err.decode(errors="replace").strip().splitlines()
        raise Unavailable(
            f"torpor-agent snapshot {args[0]} failed: {reason[-1] if reason else 'no reason'}"
        )
    return out.decode()


async def listed(
    executable: Path, repository: Path, key: RepositoryKey | None = None
) -> list[dict[str, Any]]:
    """The repository's snapshots (id, pinned, …); none when it does not exist yet."""
    if not await asyncio.to_thread(repository.exists):
        return []
    found = json.loads(await _run(executable, repository, key, "list", "--json") or "[]")
    return list(found if isinstance(found, list) else found.get("snapshots", []))


async def forget(
    executable: Path,
    repository: Path,
    snapshot_ids: list[str],
    key: RepositoryKey | None = None,
) -> None:
    """Forgets these snapshots (ids already gone are skipped) and prunes."""
    found = await listed(executable, repository, key)
    present = {str(s["id"]): bool(s.get("pinned")) for s in found}
    doomed = [ident for ident in snapshot_ids if ident in present]
    if not doomed:
        return
    for ident in doomed:
        if present[ident]:
            await _run(executable, repository, key, "unpin", ident)
    await _run(executable, repository, key, "forget", "--prune", *doomed)
    log.info("forgot %d snapshot(s) in %s", len(doomed), repository)


def delete_repository(repository: Path) -> None:
    """The instance is gone: its whole repository goes (nothing else shares it)."""
    shutil.rmtree(repository, ignore_errors=True)
