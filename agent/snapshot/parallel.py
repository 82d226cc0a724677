"""Running one function over many items on a thread pool, stopping at the first error.

`ThreadPoolExecutor.map` inside `with` would let every queued item run after a failure
(a restore would go on writing files after a hash mismatch); here queued items are
cancelled and the first error is re-raised once the running ones have stopped.
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")


def run_all(threads: int, function: Callable[[T], object], items: Iterable[T], name: str) -> None:
    pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix=name)
    futures: list[Future[object]] = []
    try:
        futures = [pool.submit(function, item) for item in items]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            error = future.exception()
            if error is not None:
                raise error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def raise_open_files_limit() -> None:
    """Lifts the soft limit on open files to the hard one (restore keeps many files open)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
