"""AdminService's savings calls: the SavingsService methods the HTTP savings routes call.
No team: every team's (the HTTP `all_teams=true`); a team id: that team's alone, read as
an owner of it would."""

from __future__ import annotations

from dataclasses import replace

from torpor.proto.v1 import admin_pb2

from ..accounts.caller import Caller
from ..errors import InvalidArgument
from ..savings.service import MAX_MONTHS, PERIODS
from . import admin_convert_more
from .admin_base import AdminBase
from .context import Context, unary

DEFAULT_MONTHS = 12


class SavingsRpcs(AdminBase):
    @unary
    async def GetSavingsSummary(
        self, request: admin_pb2.GetSavingsSummaryRequest, context: Context
    ) -> admin_pb2.SavingsSummary:
        caller, all_teams = _scope(await self._caller(context), request.team_id)
        period = _period(request.period, "month")
        view = await self._services.savings.summary(caller, period, all_teams)
        return admin_convert_more.summary_to_proto(view, request.team_id)

    @unary
    async def GetSavingsBreakdown(
        self, request: admin_pb2.GetSavingsBreakdownRequest, context: Context
    ) -> admin_pb2.SavingsBreakdown:
        caller, all_teams = _scope(await self._caller(context), request.team_id)
        period = _period(request.period, "all")
        view = await self._services.savings.breakdown(caller, period, all_teams)
        return admin_convert_more.breakdown_to_proto(view)

    @unary
    async def GetSavingsHistory(
        self, request: admin_pb2.GetSavingsHistoryRequest, context: Context
    ) -> admin_pb2.SavingsHistory:
        caller, all_teams = _scope(await self._caller(context), request.team_id)
        months = request.months or DEFAULT_MONTHS
        if months > MAX_MONTHS:
            raise InvalidArgument(f"months must be 1..{MAX_MONTHS} (0: 12)", field="months")
        history = await self._services.savings.history(caller, months, all_teams)
        return admin_convert_more.history_to_proto(history)

    @unary
    async def GetSavingsComparison(
        self, request: admin_pb2.GetSavingsComparisonRequest, context: Context
    ) -> admin_pb2.SavingsComparison:
        """NOT_FOUND for a GPU type the reference file does not price (naming those it does)."""
        caller, all_teams = _scope(await self._caller(context), request.team_id)
        view = await self._services.savings.comparison(caller, request.gpu_type, all_teams)
        return admin_convert_more.comparison_to_proto(view, request.team_id)


def _scope(caller: Caller, team_id: str) -> tuple[Caller, bool]:
    """(the caller to ask as, all_teams): the operator fleet-wide, or acting in one team."""
    if not team_id:
        return caller, True
    return replace(caller, team_id=team_id, fleet_wide=False), False


def _period(period: str, default: str) -> str:
    if not period:
        return default
    if period not in PERIODS:
        raise InvalidArgument(f"period must be one of {', '.join(PERIODS)}", field="period")
    return period
