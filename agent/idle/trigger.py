"""The agent side of hibernation, once the control plane said go (a Hibernate command).

Order: warn logged-in users → grace period (an inhibitor, or the machine turning busy,
cancels) → pre-hibernate hooks → final incremental snapshot. The snapshot's id goes back
in the command result; powering off is the control plane's job once it holds that id.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..clock import Clock
from ..snapshot.engine import Restored, Taken
from ..snapshot.prefetch import Prefetched
from .explain import duration
from .hooks import hook_commands, run_hook
from .settings import IdleSection

log = logging.getLogger(__name__)

WALL_TIMEOUT_S = 10.0
INHIBIT_HINT = 'torpor-agent inhibit --for 2h --why "..."'


class Snapshotter(Protocol):
    """Takes the final incremental snapshot (the snapshot engine); blocking."""

    def create(self, tag: str) -> Taken:
        """Returns the new snapshot. Raises on failure (the message is shown)."""
        ...


class UserNotifier(Protocol):
    def notify(self, message: str) -> None: ...


class WallNotifier:
    """Writes to every logged-in terminal with `wall`; a failure is logged, never fatal."""

    def notify(self, message: str) -> None:
        try:
            subprocess.run(["wall"], input=message.encode(), timeout=WALL_TIMEOUT_S, check=True)
        except (OSError, subprocess.SubprocessError) as error:
            log.warning("cannot warn logged-in users with wall: %s", error)


class HibernateAborted(Exception):
    """The sequence stopped before the snapshot; `str()` is why, for the command result."""


CancelCheck = Callable[[], str | None]
"""Returns why hibernation must not go on (an inhibitor, new activity), or None."""


@dataclass
class HibernateTrigger:
    settings: Callable[[], IdleSection]
    clock: Clock
    notifier: UserNotifier
    snapshotter: Snapshotter
    cancel_check: CancelCheck

    async def run(self, reason: str, grace_s: float | None = None) -> Taken:
        """The whole sequence; returns the final snapshot. Raises HibernateAborted."""
        settings = self.settings()
        grace = settings.grace_s if grace_s is None else grace_s
        self._refuse_if_cancelled("before the warning")
        self.notifier.notify(
            f"torpor: this machine hibernates in {duration(grace)} ({reason or 'idle'}). "
            f"To keep it up, run: {INHIBIT_HINT}"
        )
        await self._grace(grace, settings.poll_interval_s)
        await self._hooks(settings, reason)
        tag = f"hibernate-{int(self.clock.wall())}"
        try:
            taken = await asyncio.to_thread(self.snapshotter.create, tag)
        except Exception as error:
            raise HibernateAborted(f"the final snapshot failed: {error}") from error
        log.info("final snapshot %s taken; ready to hibernate", taken.snapshot_id)
        return taken

    def _refuse_if_cancelled(self, when: str) -> None:
        why = self.cancel_check()
        if why is not None:
            raise HibernateAborted(f"hibernation cancelled {when}: {why}")

    async def _grace(self, grace_s: float, poll_s: float) -> None:
        deadline = self.clock.monotonic() + grace_s
        while (left := deadline - self.clock.monotonic()) > 0:
            await self.clock.sleep(min(poll_s, left))
            why = self.cancel_check()
            if why is not None:
                self.notifier.notify(f"torpor: hibernation cancelled ({why}).")
                raise HibernateAborted(f"hibernation cancelled during the grace period: {why}")

    async def _hooks(self, settings: IdleSection, reason: str) -> None:
        env = {"TORPOR_HIBERNATE_REASON": reason}
        for argv in hook_commands(settings.hooks, settings.hooks_dir):
            failure = await run_hook(argv, settings.hook_timeout_s, env)
            if failure is None:
                continue
            message = f"pre-hibernate hook {failure.hook} failed: {failure.reason}"
            if not settings.continue_on_hook_failure:
                raise HibernateAborted(message)
            log.warning("%s; going on (continue_on_hook_failure)", message)


class NoSnapshotRepository:
    """Stands in until a snapshot repository is configured: hibernation, snapshots and
    restores are refused, never faked (a "snapshot" that saved nothing would lose the
    user's work)."""

    def __init__(self, message: str) -> None:
        self._message = message

    def create(self, tag: str) -> Taken:
        raise RuntimeError(self._message)

    def take(self, tags: list[str], *, keep: bool) -> Taken:
        raise RuntimeError(self._message)

    def restore(self, reference: str, repository: str = "", key: bytes = b"") -> Restored:
        raise RuntimeError(self._message)

    def prefetch(
        self,
        references: list[str],
        repository: str = "",
        key: bytes = b"",
        *,
        instance_id: str = "",
        require_encrypted: bool = False,
    ) -> Prefetched:
        raise RuntimeError(self._message)
