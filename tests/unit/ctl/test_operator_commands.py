"""Parsing and rendering of the operator commands (instances, drain, tokens)."""

from __future__ import annotations

import argparse

import pytest

from torpor.ctl import output, render
from torpor.ctl.cli import build_parser, main
from torpor.ctl.client import EXIT_USAGE
from torpor.ctl.commands.tokens import duration_s
from torpor.proto.v1 import admin_pb2

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "1w", "-5m", "1.5h", "soon"])
def test_bad_durations_name_the_format(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"e\.g\. 1h"):
        duration_s(text)


def test_parser_reads_each_command() -> None:
    parse = build_parser().parse_args
    assert parse(["drain", "h-1", "--undo"]).undo is True
    assert parse(["instances", "--team", "t-1", "--state", "running"]).team == "t-1"
    assert parse(["hibernate", "i-1", "--wait"]).wait is True
    create = parse(["tokens", "create", "--note", "gpu", "--ttl", "1h"])
    assert (create.tokens_command, create.note, create.ttl) == ("create", "gpu", 3600)
    assert parse(["tokens", "revoke", "abc"]).token_id == "abc"


@pytest.mark.parametrize(
    "argv", [["tokens"], ["instances", "--state", "asleep"], ["drain"], ["wake"]]
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--token", "tat_x.y", *argv])
    assert exited.value.code == EXIT_USAGE


def _instance(**fields: object) -> admin_pb2.Instance:
    base: dict[str, object] = {"id": "i-1", "name": "n", "team_id": "t-1", "state": "running"}
    base |= {"gpu_type": "H100", "gpu_count": 1}
    return admin_pb2.Instance(**(base | fields))  # type: ignore[arg-type]


def test_instances_table_is_aligned() -> None:
    busy = _instance(id="i-22", state="hibernating", host_id="h-1")
    busy.operation.CopyFrom(admin_pb2.Operation(id="op-1", kind="hibernate", step="snapshot"))
    lines = render.instances_table([_instance(), busy]).splitlines()
    assert lines[0].split() == ["ID", "NAME", "TEAM", "STATE", "SINCE", "HOST", "GPUS", "OPERATION"]
    assert lines[2].endswith("hibernate (snapshot)")
    assert lines[0].index("STATE") == lines[1].index("running") == lines[2].index("hibernating")


def test_operation_and_progress_lines() -> None:
    busy = _instance(state="waking")
    busy.operation.CopyFrom(admin_pb2.Operation(id="op-9", kind="wake", step="restore"))
    assert render.operation_line(busy) == "instance i-1 waking: wake op-9 at step restore"
    assert render.progress(busy) == "  waking, step restore"
    assert render.operation_line(_instance()) == "instance i-1 is running"


def test_drain_lines_and_host_state() -> None:
    drain = admin_pb2.HostDrain(host_id="h-1", draining=True, moving_instance_ids=["i-1"])
    assert "hibernating: i-1" in render.drain_line(drain)
    drain.drained_at.GetCurrentTime()
    assert render.drain_line(drain) == "host h-1 drained: no instance left on it"
    assert render.drain_line(admin_pb2.HostDrain(host_id="h-1")).endswith("placements again")
    host = admin_pb2.Host(id="h-1", state=admin_pb2.HOST_STATE_CONNECTED)
    assert output.host_state(host) == "connected"
    host.draining_since.GetCurrentTime()
    assert output.host_state(host) == "connected, draining"


def test_snapshots_table_shows_unknown_sizes_as_dashes() -> None:
    known = admin_pb2.Snapshot(id="s-1", kind="final", bytes=2048, files=3, keep_forever=True)
    unknown = admin_pb2.Snapshot(id="s-2", kind="manual")
    lines = render.snapshots_table([known, unknown]).splitlines()
    assert lines[1].split()[:6] == ["s-1", "final", "2.0", "KiB", "3", "yes"]
    assert lines[2].split()[:5] == ["s-2", "manual", "-", "-", "no"]
