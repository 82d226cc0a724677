"""The hibernate sequence: warning, grace (an inhibitor cancels), hooks, final snapshot."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.idle import ManualClock
from torpor.agent.idle.inhibitors import InhibitorStore, inhibitor_reading
from torpor.agent.idle.settings import IdleSection
from torpor.agent.idle.trigger import HibernateAborted, HibernateTrigger
from torpor.agent.idle.verdict import Verdict
from torpor.agent.snapshot.engine import Taken

pytestmark = pytest.mark.unit


class RecordingNotifier:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def notify(self, message: str) -> None:
        self.messages.append(message)


class FakeSnapshotter:
    def __init__(self, error: Exception | None = None) -> None:
        self.tags: list[str] = []
        self.error = error

    def create(self, tag: str) -> Taken:
        self.tags.append(tag)
        if self.error is not None:
            raise self.error
        return Taken("snap-0042", files=3, bytes=300, new_bytes=100)


class Sequence:
    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.clock = ManualClock()
        self.settings = IdleSection.model_validate({"grace_s": 300} | settings)
        self.notifier = RecordingNotifier()
        self.snapshotter = FakeSnapshotter()
        self.store = InhibitorStore(tmp_path)
        self.lock = tmp_path / "inhibit.lock"
        self.trigger = HibernateTrigger(
            settings=lambda: self.settings,
            clock=self.clock,
            notifier=self.notifier,
            snapshotter=self.snapshotter,
            cancel_check=self._inhibited,
        )

    def _inhibited(self) -> str | None:
        reading = inhibitor_reading(self.store, self.lock, self.clock.wall())
        return None if reading.verdict is Verdict.IDLE else reading.detail


async def test_warns_waits_the_grace_and_reports_the_snapshot_id(tmp_path: Path) -> None:
    seq = Sequence(tmp_path)
    start = seq.clock.monotonic()
    assert (await seq.trigger.run("idle for 15m")).snapshot_id == "snap-0042"
    assert seq.clock.monotonic() - start == pytest.approx(300)
    [warning] = seq.notifier.messages
    assert "hibernates in 5m 0s (idle for 15m)" in warning
    assert "torpor-agent inhibit" in warning
    assert seq.snapshotter.tags == [f"hibernate-{int(seq.clock.wall())}"]


async def test_an_inhibitor_during_the_grace_cancels(tmp_path: Path) -> None:
    seq = Sequence(tmp_path)
    real_sleep = seq.clock.sleep

    async def sleep(seconds: float) -> None:
        await real_sleep(seconds)
        if seq.clock.monotonic() >= 1100:  # 100 s into the grace, a user speaks up
            seq.store.add("still reading the logs", 3600, seq.clock.wall(), who="ana")

    seq.clock.sleep = sleep  # type: ignore[method-assign]
    with pytest.raises(HibernateAborted, match=r"grace period.*still reading the logs"):
        await seq.trigger.run("idle")
    assert "cancelled" in seq.notifier.messages[-1]
    assert seq.snapshotter.tags == []


async def test_an_inhibitor_held_before_the_warning_refuses(tmp_path: Path) -> None:
    seq = Sequence(tmp_path)
    seq.store.add("eval", 60, seq.clock.wall())
    with pytest.raises(HibernateAborted, match="before the warning"):
        await seq.trigger.run("idle")
    assert seq.notifier.messages == []


async def test_hooks_run_in_order_before_the_snapshot(tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    hooks_dir = tmp_path / "hooks.d"
    hooks_dir.mkdir()
    for name in ("20-second", "10-first"):
        script = hooks_dir / name
        script.write_text(f"#!/bin/sh\necho {name} $TORPOR_HIBERNATE_REASON >> {log}\n")
        script.chmod(0o755)
    (hooks_dir / "README").write_text("not executable: skipped")
    seq = Sequence(tmp_path, grace_s=0, hooks=[f"sh -c 'echo command >> {log}'"])
    seq.settings = seq.settings.model_copy(update={"hooks_dir": hooks_dir})
    assert (await seq.trigger.run("nightly")).snapshot_id == "snap-0042"
    assert log.read_text().split("\n") == ["command", "10-first nightly", "20-second nightly", ""]


async def test_a_hook_past_its_timeout_is_killed_and_aborts(tmp_path: Path) -> None:
    sleeper = f"{sys.executable} -c 'import time; time.sleep(30)'"
    seq = Sequence(tmp_path, grace_s=0, hooks=[sleeper], hook_timeout_s=0.3)
    with pytest.raises(HibernateAborted, match=r"still running after 0.3 s: killed"):
        await seq.trigger.run("idle")
    assert seq.snapshotter.tags == []


async def test_a_failing_hook_aborts_unless_told_to_go_on(tmp_path: Path) -> None:
    seq = Sequence(tmp_path, grace_s=0, hooks=["false", "true"])
    with pytest.raises(HibernateAborted, match="hook false failed: exited with status 1"):
        await seq.trigger.run("idle")
    seq.settings = seq.settings.model_copy(update={"continue_on_hook_failure": True})
    assert (await seq.trigger.run("idle")).snapshot_id == "snap-0042"


async def test_a_failed_snapshot_aborts_with_its_reason(tmp_path: Path) -> None:
    seq = Sequence(tmp_path, grace_s=0)
    seq.snapshotter.error = RuntimeError("no snapshot repository configured")
    with pytest.raises(HibernateAborted, match="final snapshot failed: no snapshot repository"):
        await seq.trigger.run("idle")
