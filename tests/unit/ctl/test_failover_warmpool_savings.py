"""Parsing and rendering of failover, warmpool, savings and drain --failover."""

from __future__ import annotations

import argparse

import pytest

from torpor.ctl import render
from torpor.ctl.cli import build_parser, main
from torpor.ctl.client import EXIT_USAGE
from torpor.ctl.commands.base import whole_number
from torpor.proto.v1 import admin_pb2

pytestmark = pytest.mark.unit


def test_parser_reads_the_new_commands() -> None:
    parse = build_parser().parse_args
    assert parse(["failover", "i-1", "--wait"]).wait is True
    assert parse(["failover-status", "i-1"]).instance_id == "i-1"
    assert parse(["drain", "h-1", "--failover"]).failover is True
    assert parse(["warmpool"]).warmpool_command is None  # lists the pools
    made = parse(
        [
            *("warmpool", "provision", "--gpu-type", "H100", "--region", "r"),
            *("--target", "2", "--max-idle-s", "6h", "--team", "t-1"),
        ]
    )
    assert (made.gpu_type, made.gpu_count, made.target, made.max_idle_s) == ("H100", 1, 2, 21600)
    assert (made.team, made.shared) == ("t-1", False)
    shared = ["warmpool", "provision", "--gpu-type", "H100", "--region", "r", "--target", "1"]
    assert parse([*shared, "--shared"]).shared is True
    assert parse(["warmpool", "cleanup", "wp-1"]).pool_id == "wp-1"
    assert parse(["warmpool", "hosts", "--pool", "wp-1"]).pool == "wp-1"
    summary = parse(["savings"])
    assert (summary.mode, summary.period, summary.team) == ("summary", "", "")
    history = parse(["savings", "history", "--months", "3", "--team", "t-1"])
    assert (history.mode, history.months, history.team) == ("history", 3, "t-1")


@pytest.mark.parametrize(
    "argv",
    [
        ["failover"],
        ["warmpool", "provision", "--gpu-type", "H100", "--region", "r"],  # no --target
        ["warmpool", "provision", "--gpu-type", "H100", "--region", "r", "--target", "-1"],
        ["warmpool", "provision", "--gpu-type", "H100", "--region", "r", "--target", "1"],
        [
            *("warmpool", "provision", "--gpu-type", "H100", "--region", "r", "--target", "1"),
            *("--team", "t-1", "--shared"),  # one owner, not both
        ],
        ["warmpool", "enable"],
        ["savings", "--period", "fortnight"],
        ["savings", "monthly"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--token", "tat_x.y", *argv])
    assert exited.value.code == EXIT_USAGE


@pytest.mark.parametrize("text", ["-1", "1.5", "x", "", str(2**31)])
def test_whole_numbers_refuse_the_rest(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        whole_number(text)


def test_failover_status_lists_placements_newest_first() -> None:
    status = admin_pb2.FailoverStatus(instance_id="i-1", state="running", epoch=2, host_id="h-2")
    status.last_failover.CopyFrom(admin_pb2.Operation(id="op-1", kind="failover", outcome="ok"))
    status.last_failover_details["trigger"] = "requested"
    new = status.placements.add(epoch=2, host_id="h-2", chosen_by="acquired")
    old = status.placements.add(epoch=1, host_id="h-1", chosen_by="acquired")
    old.ended_at.GetCurrentTime()
    old.end_reason = "failed_over"
    new.started_at.GetCurrentTime()
    text = render.failover_status(status)
    assert "last failover  op-1 ok" in text and "  trigger      requested" in text
    rows = text.split("\n\n")[1].splitlines()
    assert rows[0].split() == ["EPOCH", "HOST", "CHOSEN", "BY", "STARTED", "ENDED"]
    assert rows[1].split()[:2] == ["2", "h-2"] and rows[1].endswith("-")
    assert rows[2].endswith("(failed_over)")


def test_readiness_says_why_not() -> None:
    readiness = admin_pb2.FailoverReadiness(
        instance_id="i-1", ready=False, reasons=["it has no snapshot"], enabled=True
    )
    text = render.failover_readiness(readiness)
    assert "ready               no" in text and "why not             it has no snapshot" in text
    assert "snapshot age        -" in text
    readiness.snapshot_age_s = 42.4
    assert "snapshot age        42 s" in render.failover_readiness(readiness)
    assert "warm standby        -" in text and "holds latest        -" in text
    readiness.warm_target_host_id, readiness.warm_target_holds_latest = "h-9", True
    text = render.failover_readiness(readiness)
    assert "warm standby        h-9" in text and "holds latest        yes" in text


def test_pools_table_shows_cost_in_currency() -> None:
    pool = admin_pb2.WarmPool(id="wp-1", gpu_type="H100", gpu_count=8, region="r", target=2)
    status = admin_pb2.WarmPoolStatus(pool=pool, ready=1, acquiring=1, cost_cents=1234.5)
    lines = render.pools_table([status]).splitlines()
    assert lines[0].split()[-4:] == ["READY", "ACQUIRING", "CLAIMED", "COST"]
    assert lines[1].split()[:3] == ["wp-1", "8x", "H100"] and lines[1].endswith("12.35 USD")
    assert render.pool_line(pool, "created").endswith("target 2, disabled")


def _amounts(saved: str) -> admin_pb2.SavingsAmounts:
    return admin_pb2.SavingsAmounts(
        running_hours="1.5",
        hibernated_hours="10",
        compute_cost="3.00",
        saved=saved,
        currency="USD",
    )


def test_savings_show_the_service_strings_with_the_currency() -> None:
    summary = admin_pb2.SavingsSummary(period="month", amounts=_amounts("55.70"))
    text = render.savings_summary(summary)
    assert "period            month (every team)" in text
    assert "saved             55.70 USD" in text and "compute cost      3.00 USD" in text
    breakdown = admin_pb2.SavingsBreakdown(period="all")
    breakdown.by_gpu_type.add(key="H100", amounts=_amounts("1.00"))
    text = render.savings_breakdown(breakdown)
    assert "no instances" in text and text.splitlines()[2].startswith("GPU TYPE")
    months = [admin_pb2.SavingsMonth(month="2026-10", amounts=_amounts("0.00"))]
    assert render.savings_history(months).splitlines()[1].split()[-2:] == ["0.00", "USD"]
    assert render.savings_history([]) == "no months"


def test_drain_line_by_failover() -> None:
    drain = admin_pb2.HostDrain(host_id="h-1", draining=True, moving_instance_ids=["i-1"])
    assert "failing over: i-1" in render.drain_line(drain, "failing over")
