"""FaultyStore fails exactly what a test planned, and records every call."""

from __future__ import annotations

import pytest

from tests.support.faulty_store import FaultyStore
from torpor.agent.snapshot.store.base import StoreFull
from torpor.agent.snapshot.store.memory import MemoryStore

pytestmark = pytest.mark.unit


def test_fails_the_nth_put_only() -> None:
    store = FaultyStore(MemoryStore(), error=StoreFull("disk full"), fail_put_number=2)
    store.put("a", b"1")
    with pytest.raises(StoreFull):
        store.put("b", b"2")
    store.put("c", b"3")
    assert [o.key for o in store.list()] == ["a", "c"]


def test_fails_puts_under_a_prefix_and_gets_of_a_key() -> None:
    store = FaultyStore(MemoryStore(), fail_put_prefix="snapshots/", fail_get_key="data/x")
    store.put("data/x", b"1")
    with pytest.raises(Exception, match="injected fault"):
        store.put("snapshots/s1", b"m")
    with pytest.raises(Exception, match="injected fault"):
        store.get("data/x")
    assert store.calls == [("put", "data/x"), ("put", "snapshots/s1"), ("get", "data/x")]
