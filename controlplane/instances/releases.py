"""Releases: giving a lease back to its provider, and reporting one that would not go.

Every operation that lets go of a host (hibernate, delete, a failed placement, the old
host of a failover) goes through here, so "could not be released" reads the same and
is reported the same way: an `instance.release_failed` event, never an exception that
would stop the operation (its data is safe; the host is the operator's to chase).
"""

from __future__ import annotations

import asyncio
import logging

from ..db.models import InstanceRow
from .providers import Providers
from .recorder import OperationRecorder

log = logging.getLogger(__name__)
RELEASE_RETRY_S = 1.0
"""The pause before the second try of a release; each later pause is this much longer."""


class Releases:
    def __init__(self, providers: Providers, recorder: OperationRecorder) -> None:
        self._providers = providers
        self._recorder = recorder

    async def release(
        self,
        instance: InstanceRow,
        lease_id: str | None = None,
        host_id: str | None = None,
        *,
        provider: str | None = None,
        lost: bool = False,
    ) -> None:
        """Gives back the instance's lease, or `lease_id` on `host_id` (one it held
        before, maybe from `provider`); `lost`: the host may be frozen, kill it outright.
        Raises whatever the provider raises."""
        if lease_id is None:
            lease_id, host_id = instance.lease_id, instance.host_id
        if lease_id:
            name = provider or instance.provider
            await self._providers.release(name, lease_id, host_id, lost=lost)

    async def release_or_report(
        self,
        instance: InstanceRow,
        lease_id: str | None = None,
        host_id: str | None = None,
        *,
        provider: str | None = None,
        lost: bool = False,
        attempts: int = 1,
    ) -> bool:
        """`release`, tried up to `attempts` times; a provider that still refuses is
        reported (`instance.release_failed`), not raised. True when the release returned."""
        if lease_id is None:
            lease_id, host_id = instance.lease_id, instance.host_id
        for attempt in range(attempts):
            try:
                await self.release(instance, lease_id, host_id, provider=provider, lost=lost)
                return True
            except Exception as err:
                log.warning("releasing lease %s failed: %s", lease_id, err)
                if attempt + 1 == attempts:
                    message = (
                        f"host {host_id} (lease {lease_id}) could not be released and may "
                        f"still be running: {err}"
                    )
                    await self._recorder.emit(instance, "instance.release_failed", message, "error")
                else:
                    await asyncio.sleep(RELEASE_RETRY_S * (attempt + 1))
        return False
