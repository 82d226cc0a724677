"""Savings routes: summary, history, breakdown, comparison with the clouds' list prices,
hibernation events per day, and one instance's ledger. Owners and billing admins see
their team's; operators every team's with `all_teams=true`. Thin: the rules live in
`savings/service.py`."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from ..accounts.caller import Caller
from ..runtime import ControlPlane
from ..savings.schemas import (
    Breakdown,
    Comparison,
    HibernationDay,
    InstanceSavings,
    Month,
    Summary,
)
from ..savings.service import MAX_MONTHS
from .error_docs import AUTHENTICATED, errors

READ = errors(*AUTHENTICATED)
MAX_DAYS = 366
Period = Annotated[
    Literal["day", "week", "month", "year", "all"], QueryParameter(description="back from now")
]
AllTeams = Annotated[bool, QueryParameter(description="operators: every team")]


class SavingsController(Controller):
    path = "/api/v1"
    tags = ["savings"]

    @get("/savings/summary", summary="Costs and savings over a period", responses=READ)
    async def summary(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        period: Period = "month",
        all_teams: AllTeams = False,
    ) -> Summary:
        return await control_plane.services.savings.summary(caller, period, all_teams)

    @get("/savings/history", summary="Costs and savings per calendar month", responses=READ)
    async def history(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        months: Annotated[int, QueryParameter(ge=1, le=MAX_MONTHS)] = 12,
        all_teams: AllTeams = False,
    ) -> list[Month]:
        return await control_plane.services.savings.history(caller, months, all_teams)

    @get("/savings/breakdown", summary="By GPU type and by instance", responses=READ)
    async def breakdown(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        period: Period = "all",
        all_teams: AllTeams = False,
    ) -> Breakdown:
        return await control_plane.services.savings.breakdown(caller, period, all_teams)

    @get(
        "/savings/comparison/{gpu_type:str}",
        summary="Ours against AWS, GCP and Azure on-demand list prices",
        responses=READ,
    )
    async def comparison(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        gpu_type: FromPath[str],
        all_teams: AllTeams = False,
    ) -> Comparison:
        """404 for a GPU type the reference file does not price (the message lists those
        it does)."""
        return await control_plane.services.savings.comparison(caller, gpu_type, all_teams)

    @get(
        "/metrics/hibernation/events",
        summary="Hibernations and wakes per day, with durations",
        responses=READ,
    )
    async def hibernation_events(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        days: Annotated[int, QueryParameter(ge=1, le=MAX_DAYS)] = 30,
        all_teams: AllTeams = False,
    ) -> list[HibernationDay]:
        return await control_plane.services.savings.hibernation_events(caller, days, all_teams)

    @get(
        "/instances/{instance_id:str}/savings",
        summary="One instance's ledger: intervals, costs, savings",
        responses=READ,
    )
    async def instance_savings(
        self,
        control_plane: NamedDependency[ControlPlane],
        caller: NamedDependency[Caller],
        instance_id: FromPath[str],
    ) -> InstanceSavings:
        return await control_plane.services.savings.instance(caller, instance_id)
