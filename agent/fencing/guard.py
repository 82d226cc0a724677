"""The fencing state machine: which assignment is held, which commands it admits.

Rules (docs/design.md, "Failover and fencing"):
- An Assign or a Welcome's assignment replaces the held one only when it is for another
  instance or its epoch is at least the held one; a lower epoch is refused (fenced).
- A Welcome without an assignment keeps the held one: an older control plane, or one that
  restarted and has not loaded it yet, must not make the host forget it is fenced.
- A command whose epoch (when not 0) is below the held epoch is refused, and while fenced
  every instance command is refused, until an Assign with a higher epoch arrives.
- Fenced is sticky: it is stored with the assignment, so a restart does not unfence.
"""

from __future__ import annotations

import logging

from torpor.proto.v1 import agent_pb2

from ..clock import Clock
from .assignment import AssignmentStore, HeldAssignment

log = logging.getLogger(__name__)

INSTANCE_COMMANDS = frozenset({"hibernate", "restore", "take_snapshot", "set_idle_policy"})
"""Commands that act on the instance's work; refused while fenced (Ping, Prefetch never are)."""


def refused(error: str) -> agent_pb2.CommandResult:
    """A fenced refusal: nothing was done."""
    return agent_pb2.CommandResult(ok=False, fenced=True, error=error)


class FenceGuard:
    """Holds the assignment (persisted through `store`) and the time of last contact."""

    def __init__(self, store: AssignmentStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._held = store.load()
        self._heard_at = clock.monotonic()  # a fresh process gets a whole bound
        self._linked = False

    @property
    def held(self) -> HeldAssignment | None:
        return self._held

    def hello_assignment(self) -> agent_pb2.Assignment | None:
        """What Hello says this host serves, and whether it is fenced: the control plane
        brings a fenced instance back (a higher epoch here, or a failover)."""
        if self._held is None:
            return None
        stated = self._held.to_proto()
        stated.fenced = self._held.fenced
        return stated

    def link(self, up: bool) -> None:
        """The stream is up (Welcome) or just ended. The control plane sends nothing on a
        quiet stream, so a live stream (HTTP/2 keepalive notices a dead one within ~15 s)
        is the contact; the bound counts from the moment it ended."""
        self._linked = up
        self._heard_at = self._clock.monotonic()

    def silent_for_s(self) -> float:
        """How long this host has been without a stream to the control plane."""
        return 0.0 if self._linked else self._clock.monotonic() - self._heard_at

    def overdue(self) -> bool:
        """True when an unfenced assignment's `fence_after_ms` passed without contact."""
        held = self._held
        if held is None or held.fenced or held.fence_after_ms == 0:
            return False
        return self.silent_for_s() * 1000 >= held.fence_after_ms

    def take(self, offered: agent_pb2.Assignment) -> agent_pb2.CommandResult:
        """Adopts `offered` (an Assign's or a Welcome's), or refuses an older epoch."""
        if not offered.instance_id or offered.epoch < 1:
            return agent_pb2.CommandResult(
                ok=False, error="Assign needs assignment.instance_id and assignment.epoch >= 1"
            )
        held = self._held
        if held is not None and held.instance_id == offered.instance_id:
            if offered.epoch < held.epoch:
                return refused(
                    f"assignment epoch {offered.epoch} of {offered.instance_id} is older than "
                    f"the held epoch {held.epoch}: refused"
                )
            if offered.epoch == held.epoch and held.fenced:  # only a higher epoch unfences
                self._save(HeldAssignment.from_proto(offered).fence(held.fence_reason))
                return agent_pb2.CommandResult(ok=True, outputs={"epoch": str(held.epoch)})
        if held is None or held.to_proto() != offered or held.fenced:
            log.info("now serving instance %s at epoch %d", offered.instance_id, offered.epoch)
        self._save(HeldAssignment.from_proto(offered))
        return agent_pb2.CommandResult(ok=True, outputs={"epoch": str(offered.epoch)})

    def on_welcome(self, welcome: agent_pb2.Welcome) -> None:
        """A Welcome restates the assignment; none, or an older one, leaves the held one."""
        if not welcome.HasField("assignment"):
            return
        result = self.take(welcome.assignment)
        if not result.ok:
            log.warning("Welcome's assignment not adopted: %s", result.error)

    def fence(self, reason: str) -> bool:
        """Marks the held assignment fenced; False when there is none or it already was."""
        held = self._held
        if held is None or held.fenced:
            return False
        self._save(held.fence(reason))
        return True

    def admit(self, command: agent_pb2.Command) -> agent_pb2.CommandResult | None:
        """None: run the command; else the fenced refusal to answer instead."""
        held = self._held
        if held is None:
            return None
        if command.epoch and command.epoch < held.epoch:
            return refused(
                f"command epoch {command.epoch} is older than the held epoch {held.epoch} "
                f"of {held.instance_id}: a newer placement won"
            )
        if held.fenced and command.WhichOneof("kind") in INSTANCE_COMMANDS:
            return refused(
                f"this host is fenced for {held.instance_id} at epoch {held.epoch} "
                f"({held.fence_reason}); only an Assign with a higher epoch lifts it"
            )
        return None

    def _save(self, held: HeldAssignment) -> None:
        self._store.save(held)  # durable first: a crash must not forget a fence
        self._held = held
