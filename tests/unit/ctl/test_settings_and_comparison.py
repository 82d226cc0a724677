"""failover-settings (parsing --set, the read-change-write it does, rendering) and savings
comparison (parsing, rendering), against a fake AdminService client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from torpor.ctl import render
from torpor.ctl.cli import build_parser, main
from torpor.ctl.client import EXIT_USAGE, CtlError
from torpor.ctl.commands.failover_settings import parse_changes, settings_cmd
from torpor.ctl.commands.savings import savings_cmd
from torpor.proto.v1 import admin_pb2

pytestmark = pytest.mark.unit
DEFAULTS = admin_pb2.FailoverSettingValues(
    enabled=True, allow_other_region=False, snapshot_every_s=900, max_snapshot_age_s=1800
)


@dataclass
class FakeAdmin:
    """AdminClient.call answering from `answers` (UpdateFailoverSettings: what it was
    sent, as effective), recording every call."""

    answers: dict[str, Any]
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def call(self, rpc: str, request: Any) -> Any:
        self.calls.append((rpc, request))
        if rpc == "UpdateFailoverSettings":
            return admin_pb2.FailoverSettings(
                instance_id=request.instance_id, effective=request.values
            )
        return self.answers[rpc]


def holding(settings: admin_pb2.FailoverSettings) -> FakeAdmin:
    return FakeAdmin({"GetFailoverSettings": settings})


def run(client: FakeAdmin, *argv: str) -> str:
    args = build_parser().parse_args(["--token", "tat_x.y", *argv])
    return str(settings_cmd(client, args))  # type: ignore[arg-type]


def test_set_parses_booleans_seconds_and_inherit() -> None:
    changes = parse_changes(
        [
            "enabled=Off",
            "allow_other_region=true",
            " snapshot_every_s = 0",
            "max_snapshot_age_s=-1",
        ],
        instance=False,
    )
    assert changes == {
        "enabled": False,
        "allow_other_region": True,
        "snapshot_every_s": 0,
        "max_snapshot_age_s": -1,  # the server refuses it, naming the field
    }
    assert parse_changes(["enabled=inherit"], instance=True) == {"enabled": None}


@pytest.mark.parametrize(
    ("items", "says"),
    [
        (["snapshot_every=60"], "unknown failover setting 'snapshot_every' (known: enabled, "),
        (["enabled"], "--set wants KEY=VALUE, not 'enabled'"),
        (["enabled=maybe"], "enabled is true or false, not 'maybe'"),
        (["snapshot_every_s=1.5"], "snapshot_every_s is a whole number of seconds"),
        (["snapshot_every_s=²"], "snapshot_every_s is a whole number of seconds"),
        (["snapshot_every_s=99999999999"], "snapshot_every_s is a whole number of seconds"),
        (["enabled=inherit"], "only an instance's settings inherit"),
    ],
)
def test_bad_settings_are_usage_errors_naming_them(items: list[str], says: str) -> None:
    with pytest.raises(CtlError) as raised:
        parse_changes(items, instance=False)
    assert raised.value.exit_code == EXIT_USAGE and says in str(raised.value)


def test_a_bad_key_exits_2_with_one_line_before_any_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        ["--token", "tat_x.y", "--server", "127.0.0.1:1", "failover-settings", "--set", "x=1"]
    )
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown failover setting 'x'" in err


def test_reading_makes_no_update() -> None:
    client = holding(admin_pb2.FailoverSettings(effective=DEFAULTS))
    assert run(client, "failover-settings").startswith("global failover settings")
    assert [rpc for rpc, _ in client.calls] == ["GetFailoverSettings"]
    assert client.calls[0][1].instance_id == ""


def test_set_on_an_instance_keeps_its_other_overrides_and_clears_inherit() -> None:
    own = admin_pb2.FailoverSettingValues(enabled=False, snapshot_every_s=120)
    client = holding(
        admin_pb2.FailoverSettings(instance_id="i-1", effective=DEFAULTS, overrides=own)
    )
    run(
        client,
        "failover-settings",
        "i-1",
        "--set",
        "snapshot_every_s=inherit",
        "--set",
        "allow_other_region=yes",
    )
    rpc, update = client.calls[-1]
    assert rpc == "UpdateFailoverSettings" and update.instance_id == "i-1"
    assert update.values == admin_pb2.FailoverSettingValues(enabled=False, allow_other_region=True)


def test_set_on_the_global_settings_starts_from_the_effective_values() -> None:
    client = holding(admin_pb2.FailoverSettings(effective=DEFAULTS))
    run(client, "failover-settings", "--set", "enabled=false")
    update = client.calls[-1][1]
    expected = admin_pb2.FailoverSettingValues()
    expected.CopyFrom(DEFAULTS)
    expected.enabled = False
    assert update.instance_id == "" and update.values == expected


def test_instance_settings_say_where_each_value_comes_from() -> None:
    settings = admin_pb2.FailoverSettings(
        instance_id="i-1",
        effective=admin_pb2.FailoverSettingValues(
            enabled=False, allow_other_region=False, snapshot_every_s=0, max_snapshot_age_s=1800
        ),
        overrides=admin_pb2.FailoverSettingValues(enabled=False, snapshot_every_s=0),
    )
    lines = render.failover_settings(settings).splitlines()
    assert lines[0] == "failover settings of instance i-1"
    assert lines[2].split() == ["SETTING", "VALUE", "FROM"]
    assert [line.split() for line in lines[3:]] == [
        ["enabled", "false", "instance"],
        ["allow_other_region", "false", "global"],
        ["snapshot_every_s", "0", "instance"],
        ["max_snapshot_age_s", "1800", "global"],
    ]
    glob = render.failover_settings(admin_pb2.FailoverSettings(effective=DEFAULTS)).splitlines()
    assert glob[2].split() == ["SETTING", "VALUE"] and glob[3].split() == ["enabled", "true"]


def test_comparison_parses_its_gpu_type() -> None:
    args = build_parser().parse_args(["savings", "comparison", "H100-80GB", "--team", "t-1"])
    assert (args.mode, args.gpu_type, args.team) == ("comparison", "H100-80GB", "t-1")
    assert build_parser().parse_args(["savings"]).gpu_type == ""


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["savings", "comparison"], "needs a GPU type"),
        (["savings", "history", "H100-80GB"], "goes only with `savings comparison`"),
        (["savings", "comparison", "L4", "--period", "week"], "--period does not apply"),
    ],
)
def test_comparison_usage_errors_exit_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--token", "tat_x.y", "--server", "127.0.0.1:1", *argv]) == EXIT_USAGE
    assert says in capsys.readouterr().err


def test_comparison_asks_for_the_team_given() -> None:
    reply = admin_pb2.SavingsComparison(gpu_type="L4", currency="USD", team_id="t-1")
    client = holding(admin_pb2.FailoverSettings())
    client.call = lambda rpc, request: client.calls.append((rpc, request)) or reply  # type: ignore[method-assign]
    args = build_parser().parse_args(["-o", "json", "savings", "comparison", "L4", "--team", "t-1"])
    assert '"team_id": "t-1"' in savings_cmd(client, args)  # type: ignore[arg-type]
    assert client.calls == [
        (
            "GetSavingsComparison",
            admin_pb2.GetSavingsComparisonRequest(gpu_type="L4", team_id="t-1"),
        )
    ]


def test_comparison_table_per_cloud() -> None:
    comparison = admin_pb2.SavingsComparison(
        gpu_type="H100-80GB",
        running_gpu_hours="3",
        hibernated_gpu_hours="21",
        ours="7.47",
        reference_version=2,
        reference_retrieved="2026-02-09",
        currency="USD",
    )
    comparison.references.add(
        cloud="aws",
        region="us-east-1",
        instance_type="p5.48xlarge",
        per_gpu_hour="6.88",
        same_running_hours="20.64",
        always_on="165.12",
        source="https://example.com/prices",
        as_of="2026-02-09",
    )
    text = render.savings_comparison(comparison)
    head, rows = text.split("\n\n")
    assert "gpu type              H100-80GB (every team)" in head
    assert "ours                  7.47 USD" in head and "v2, retrieved 2026-02-09" in head
    header, aws = rows.splitlines()
    assert header.split() == [
        *("CLOUD", "REGION", "INSTANCE", "TYPE", "USD/GPU-H"),
        *("SAME", "RUNNING", "HOURS", "ALWAYS", "ON", "AS", "OF"),
    ]
    assert aws.split() == [
        *("aws", "us-east-1", "p5.48xlarge", "6.88", "20.64", "165.12", "2026-02-09")
    ]
    assert header.index("ALWAYS ON") == aws.index("165.12")
