"""Pre-hibernate hooks: user commands (save a notebook, flush a cache) run before the final
snapshot, each with a timeout, their output logged, in a fixed order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HookFailure:
    hook: str
    reason: str


def hook_commands(commands: list[str], hooks_dir: Path | None) -> list[list[str]]:
    """`commands` in order, then the executables of `hooks_dir` by name (like run-parts)."""
    found = [shlex.split(command) for command in commands]
    if hooks_dir is not None and hooks_dir.is_dir():
        for path in sorted(hooks_dir.iterdir()):
            if path.is_file() and os.access(path, os.X_OK):
                found.append([str(path)])
    return found


async def run_hook(argv: list[str], timeout_s: float, env: dict[str, str]) -> HookFailure | None:
    """Runs one hook; None on success. A hook past its timeout is killed."""
    name = shlex.join(argv)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=os.environ | env,
        )
    except OSError as error:
        return HookFailure(name, f"cannot start: {error}")
    try:
        async with asyncio.timeout(timeout_s):
            output, _ = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return HookFailure(name, f"still running after {timeout_s:g} s: killed")
    for line in output.decode(errors="replace").splitlines():
        log.info("hook %s: %s", name, line)
    if process.returncode != 0:
        return HookFailure(name, f"exited with status {process.returncode}")
    return None
