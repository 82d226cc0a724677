"""The shared helpers: atomic writes, backoff, timestamps, and the layering check."""

from __future__ import annotations

import random
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.layering import cycles, imported_modules, layer_violations, violations
from torpor.common.atomic import atomic_write_bytes, atomic_write_text
from torpor.common.backoff import Backoff
from torpor.common.timestamps import from_timestamp, to_timestamp

pytestmark = pytest.mark.unit


def test_atomic_write_replaces_with_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "secret.json"
    atomic_write_text(target, "old")
    atomic_write_bytes(target, b"new", mode=0o640)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["secret.json"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state"]


def test_backoff_grows_to_its_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4, rng=random.Random(7))
    bounds = []
    for _ in range(6):
        bounds.append(backoff.bound())
        assert 0 <= backoff.next_delay() <= bounds[-1]
    assert bounds == [0.5, 1, 2, 4, 4, 4]
    backoff.reset()
    assert backoff.bound() == 0.5


def test_backoff_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="initial_s"):
        Backoff(initial_s=5, max_s=1)


def test_timestamps_round_trip_and_refuse_naive() -> None:
    moment = datetime(2026, 11, 24, 13, 0, 1, 500000, tzinfo=UTC)
    assert from_timestamp(to_timestamp(moment)) == moment
    with pytest.raises(ValueError, match="naive"):
        to_timestamp(datetime(2026, 1, 1))


def test_layering_holds_and_its_parser_sees_imports(tmp_path: Path) -> None:
    assert violations() == []
    source = tmp_path / "m.py"
    source.write_text("import torpor.agent.x\nfrom torpor.controlplane import y\nfrom . import z\n")
    assert imported_modules(source) == [(1, "torpor.agent.x"), (2, "torpor.controlplane")]


def test_the_layering_check_finds_cycles_and_upward_imports() -> None:
    graph = {
        "torpor.controlplane.instances.a": [(3, "torpor.controlplane.failover.b")],
        "torpor.controlplane.failover.b": [(4, "torpor.controlplane.instances.c")],
        "torpor.controlplane.instances.c": [(5, "torpor.controlplane.instances.a")],
        "torpor.controlplane.db.d": [],
    }
    assert cycles(graph) == [
        [
            "torpor.controlplane.failover.b",
            "torpor.controlplane.instances.a",
            "torpor.controlplane.instances.c",
        ]
    ]
    assert layer_violations(graph) == [
        "torpor.controlplane.instances.a:3: instances may not import failover "
        "(torpor.controlplane.failover.b)"
    ]
