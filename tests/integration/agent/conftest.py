"""A fake control plane with a fast heartbeat, for agent tests that run a real stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from torpor.proto.v1 import agent_pb2

from .fake_control_plane import FakeAgentService, FakeControlPlane


@pytest.fixture
async def plane() -> AsyncIterator[FakeControlPlane]:
    """Overridden by test files that need another policy or a scripted service."""
    policy = agent_pb2.HeartbeatPolicy(interval_ms=200, ttl_ms=1000, grace_ms=1000)
    fake = FakeControlPlane(FakeAgentService(policy=policy))
    await fake.start()
    yield fake
    await fake.stop()
