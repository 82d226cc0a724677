"""What every AdminService handler shares: the services, and the operator behind the
call's admin token as the same `Caller` the HTTP routes hand to the domain services."""

from __future__ import annotations

from ..accounts.caller import Caller
from ..accounts.queries import MAX_PAGE_SIZE
from ..errors import InvalidArgument
from ..services import Services
from .context import Context, InFlight, bearer_token

DEFAULT_PAGE_SIZE = 50
MAX_OFFSET = 2**31 - 1


class AdminBase:
    def __init__(self, services: Services, inflight: InFlight, join_token_ttl_s: float) -> None:
        self._services = services
        self._inflight = inflight
        self._join_token_ttl_s = join_token_ttl_s

    async def _caller(self, context: Context) -> Caller:
        """Unauthenticated without a valid admin token (`tat_…`)."""
        principal = await self._services.admin_tokens.authenticate(bearer_token(context))
        return Caller.operator_token(principal.name)


def page_args(limit: int, offset: int) -> tuple[int, int]:
    """A request's paging, as HTTP's `?limit=&offset=`: limit 0 means the default."""
    if limit > MAX_PAGE_SIZE:
        raise InvalidArgument(f"limit must be 1..{MAX_PAGE_SIZE} (0: 50)", field="limit")
    if offset > MAX_OFFSET:
        raise InvalidArgument(f"offset must be 0..{MAX_OFFSET}", field="offset")
    return limit or DEFAULT_PAGE_SIZE, offset
