"""Savings: savings [summary] | breakdown | history | comparison GPU_TYPE, every team's or
--team's."""

from __future__ import annotations

import argparse

from torpor.ctl import output, render
from torpor.ctl.client import EXIT_USAGE, AdminClient, CtlError
from torpor.proto.v1 import admin_pb2

from .base import Handler, Subparsers, whole_number

PERIODS = ("day", "week", "month", "year", "all")
MODES = ("summary", "breakdown", "history", "comparison")


def register(commands: Subparsers) -> dict[str, Handler]:
    savings = commands.add_parser(
        "savings",
        help="what hibernation saved: summary, breakdown, history, or comparison GPU_TYPE",
    )
    savings.add_argument("mode", nargs="?", choices=MODES, default="summary")
    savings.add_argument(
        "gpu_type",
        nargs="?",
        default="",
        metavar="GPU_TYPE",
        help="comparison: the GPU type to price at each cloud's list price (e.g. H100-80GB)",
    )
    savings.add_argument(
        "--period",
        choices=PERIODS,
        default="",
        help="back from now (summary: month; breakdown: all)",
    )
    savings.add_argument("--team", default="", help="only this team's (a team id; default: all)")
    savings.add_argument(
        "--months",
        type=whole_number,
        default=0,
        help="history: calendar months (default 12, max 120)",
    )
    return {"savings": savings_cmd}


def savings_cmd(client: AdminClient, args: argparse.Namespace) -> str:
    modes = {
        "summary": _summary,
        "breakdown": _breakdown,
        "history": _history,
        "comparison": _comparison,
    }
    _check_gpu_type(args)
    return modes[args.mode](client, args)


def _check_gpu_type(args: argparse.Namespace) -> None:
    """A GPU type only with `comparison`, which needs one and covers all time."""
    if args.mode != "comparison":
        if args.gpu_type:
            raise CtlError(
                f"{args.gpu_type!r}: a GPU type goes only with `savings comparison`", EXIT_USAGE
            )
        return
    if not args.gpu_type:
        raise CtlError("savings comparison needs a GPU type, e.g. H100-80GB", EXIT_USAGE)
    if args.period:
        raise CtlError("savings comparison covers all time: --period does not apply", EXIT_USAGE)


def _summary(client: AdminClient, args: argparse.Namespace) -> str:
    request = admin_pb2.GetSavingsSummaryRequest(period=args.period, team_id=args.team)
    summary = client.call("GetSavingsSummary", request)
    return output.as_json(summary) if args.output == "json" else render.savings_summary(summary)


def _breakdown(client: AdminClient, args: argparse.Namespace) -> str:
    request = admin_pb2.GetSavingsBreakdownRequest(period=args.period, team_id=args.team)
    breakdown = client.call("GetSavingsBreakdown", request)
    if args.output == "json":
        return output.as_json(breakdown)
    return render.savings_breakdown(breakdown)


def _history(client: AdminClient, args: argparse.Namespace) -> str:
    request = admin_pb2.GetSavingsHistoryRequest(months=args.months, team_id=args.team)
    months = list(client.call("GetSavingsHistory", request).months)
    return output.as_json(months) if args.output == "json" else render.savings_history(months)


def _comparison(client: AdminClient, args: argparse.Namespace) -> str:
    request = admin_pb2.GetSavingsComparisonRequest(gpu_type=args.gpu_type, team_id=args.team)
    comparison = client.call("GetSavingsComparison", request)
    if args.output == "json":
        return output.as_json(comparison)
    return render.savings_comparison(comparison)
