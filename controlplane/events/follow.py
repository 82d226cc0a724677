"""Following the bus: how a service reacts to events of one kind (failover to
`host.lost`, reassignment to `instance.fenced`) without anyone calling it back."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import Unavailable
from .bus import EventBus
from .schemas import Event

log = logging.getLogger(__name__)


async def follow(bus: EventBus, kind: str, handle: Callable[[Event], None]) -> None:
    """Hands every live event of `kind` to `handle` (which must not block: spawn the
    work) until the bus closes. Live events only: what came before the follower started
    is the caller's to recover. A follower that fell behind resumes after the last event
    it saw, so none is skipped."""
    after: int | None = None
    while True:
        try:
            async for event in bus.subscribe(after):
                after = event.seq
                if event.kind == kind:
                    handle(event)
            return  # the bus closed: the control plane is stopping
        except Unavailable as err:
            if "shutting down" in err.message:
                return
            log.warning("following %s resumes after seq %s: %s", kind, after, err.message)
