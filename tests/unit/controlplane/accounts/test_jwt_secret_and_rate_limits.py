"""The JWT signing key file and the sliding-window rate limit."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from torpor.controlplane.accounts.jwt_secret import load_or_create_secret
from torpor.controlplane.accounts.rate_limits import SlidingWindow
from torpor.controlplane.errors import RateLimited

pytestmark = pytest.mark.unit


def test_the_secret_is_made_once_private_and_then_reused(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path / "state")
    path = tmp_path / "state" / "jwt.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and load_or_create_secret(tmp_path / "state") == first
    assert [p.name for p in path.parent.iterdir()] == ["jwt.secret"]


def test_the_window_refuses_past_the_limit_and_forgets_old_hits() -> None:
    now = [0.0]
    window = SlidingWindow(limit=2, what="tries", clock=lambda: now[0])
    window.hit("a")
    window.hit("a")
    window.hit("b")
    with pytest.raises(RateLimited) as refused:
        window.hit("a")
    assert refused.value.retry_after_s == 60.0
    now[0] = 60.0
    window.hit("a")
