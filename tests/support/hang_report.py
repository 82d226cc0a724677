"""When a test or its teardown runs past REPORT_AFTER_S, every open event loop's tasks
are written to stderr with their stacks.

pytest-timeout's dump shows threads only; a hung asyncio test shows just a main thread
waiting in epoll. The tasks say what it waits for (this is how a shutdown that never
ends would be diagnosed from a CI log).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Iterator

import pytest

REPORT_AFTER_S = 100.0  # under the 120 s pytest-timeout; only the jitter test runs > 60 s


def _open_loops() -> list[asyncio.AbstractEventLoop]:
    return [
        o for o in gc.get_objects() if isinstance(o, asyncio.BaseEventLoop) and not o.is_closed()
    ]


def _report_if_stuck(where: str, done: threading.Event) -> None:
    if done.wait(REPORT_AFTER_S):
        return
    out = sys.__stderr__
    if out is None:
        return
    out.write(f"\n=== {where} still running after {REPORT_AFTER_S:.0f} s: asyncio tasks ===\n")
    for loop in _open_loops():
        for task in list(asyncio.all_tasks(loop)):
            out.write(f"--- {task!r}\n")
            task.print_stack(file=out)
    out.flush()


def _watch(where: str) -> Iterator[None]:
    done = threading.Event()
    threading.Thread(target=_report_if_stuck, args=(where, done), daemon=True).start()
    yield
    done.set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield from _watch(f"{item.nodeid} (call)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    yield from _watch(f"{item.nodeid} (teardown)")
