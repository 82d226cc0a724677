"""Fencing as the daemon sees it: the dispatcher's gate, the Assign and Fence commands,
the Welcome and stream hooks, the snapshot engine's placement, and the self-fencing loop."""

from __future__ import annotations

import asyncio
import logging

from torpor.proto.v1 import agent_pb2

from ..clock import Clock, SystemClock
from ..config import AgentConfig
from ..outbox import Outbox
from ..snapshot.placement import CommitGuard
from ..snapshot.store.base import StoreError
from ..snapshot.store.open import RepositoryURLError, open_store
from .assignment import AssignmentStore, HeldAssignment
from .claims import EpochGuard, claim
from .guard import FenceGuard
from .stopping import WorkStopper, fenced_event

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.5


class FencingAgent:
    """Owns the guard; the daemon wires its methods into the dispatcher and the connection."""

    def __init__(
        self,
        config: AgentConfig,
        store: AssignmentStore,
        outbox: Outbox,
        clock: Clock | None = None,
    ) -> None:
        self._config = config
        self._clock = clock or SystemClock()
        self.guard = FenceGuard(store, self._clock)
        self._outbox = outbox
        self._stopper = WorkStopper(config.snapshot.workspace, config.fencing, config.agent.name)

    async def run(self) -> None:
        """Self-fencing: fences the host once it has been without a stream past the bound."""
        while True:
            await self._clock.sleep(WATCH_INTERVAL_S)
            held = self.guard.held
            if held is not None and self.guard.overdue():
                silent_s = self.guard.silent_for_s()
                await self.fence(
                    f"no control plane for {silent_s:.0f} s (fence_after_ms={held.fence_after_ms})"
                )

    # ---- commands ------------------------------------------------------------------

    async def assign(self, command: agent_pb2.Command) -> agent_pb2.CommandResult:
        """Keeps the assignment (durably), then claims its epoch in the repository."""
        result = self.guard.take(command.assign.assignment)
        held = self.guard.held
        if not result.ok or held is None:
            return result
        failure = await asyncio.to_thread(self._claim, held)
        if failure is not None:
            return agent_pb2.CommandResult(
                ok=False,
                error=f"assignment {held.instance_id} epoch {held.epoch} kept, but claiming "
                f"the epoch failed: {failure}; send Assign again (it is retried before every "
                "snapshot too)",
            )
        return result

    async def fence_command(self, command: agent_pb2.Command) -> agent_pb2.CommandResult:
        """Fence: a newer placement replaced this host. Idempotent; a Fence naming an epoch
        not above the held one is stale (this host was re-assigned since) and ignored."""
        order = command.fence
        held = self.guard.held
        if held is None:
            return agent_pb2.CommandResult(ok=True, outputs={"fenced": "no assignment held"})
        if order.epoch and order.epoch <= held.epoch:
            return agent_pb2.CommandResult(
                ok=False,
                error=f"Fence for epoch {order.epoch} is not newer than the held epoch "
                f"{held.epoch} of {held.instance_id}: ignored",
            )
        await self.fence(order.reason or f"replaced by epoch {order.epoch or '?'}")
        return agent_pb2.CommandResult(ok=True, outputs={"epoch": str(held.epoch)})

    # ---- hooks for the connection --------------------------------------------------

    def on_welcome(self, welcome: agent_pb2.Welcome) -> None:
        self.guard.on_welcome(welcome)

    def hello_assignment(self) -> agent_pb2.Assignment | None:
        return self.guard.hello_assignment()

    def on_link(self, up: bool) -> None:
        self.guard.link(up)

    # ---- the snapshot engine's Placement -------------------------------------------

    def repository(self) -> str | None:
        held = self.guard.held
        return held.repository or None if held is not None else None

    def repository_key(self) -> bytes:
        held = self.guard.held
        return bytes.fromhex(held.repository_key) if held is not None else b""

    def commit_guard(self) -> CommitGuard | None:
        """None without an assignment (snapshots as before); else the epoch's guard."""
        held = self.guard.held
        if held is None:
            return None
        return EpochGuard(held.instance_id, held.epoch, lambda: self._fenced_since(held))

    def _fenced_since(self, taken: HeldAssignment) -> str | None:
        """Why a snapshot begun under `taken` may no longer commit; None: it may."""
        held = self.guard.held
        if held is None or held.fenced:
            return f"this host is fenced ({held.fence_reason if held else 'no assignment'})"
        if (held.instance_id, held.epoch) != (taken.instance_id, taken.epoch):
            return f"the assignment changed to {held.instance_id} epoch {held.epoch}"
        return None

    # ---- fencing -------------------------------------------------------------------

    async def fence(self, reason: str) -> bool:
        """Marks the assignment fenced, stops the work, says so; False when it already was."""
        if not self.guard.fence(reason):
            return False
        held = self.guard.held
        assert held is not None
        log.warning(
            "FENCED: instance %s epoch %d on host %s: %s; its work is stopped and no snapshot "
            "is taken until the control plane assigns a higher epoch",
            held.instance_id,
            held.epoch,
            self._config.agent.name,
            reason,
        )
        ended = await self._stopper.stop(held, reason)
        self._outbox.put(agent_pb2.AgentMessage(event=fenced_event(held, reason, ended)))
        return True

    def _claim(self, held: HeldAssignment) -> str | None:
        """Claims the epoch in the assignment's (else the configured) repository; None: done
        or nothing to claim, else why it failed."""
        url = held.repository or self._config.snapshot.repository
        if not url:
            return None
        try:
            store = open_store(url, s3=self._config.snapshot.s3)
        except RepositoryURLError as error:
            return str(error)
        try:
            claim(store, held.instance_id, held.epoch)
        except StoreError as error:
            return str(error)
        finally:
            store.close()
        return None
