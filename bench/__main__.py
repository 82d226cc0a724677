"""`make bench`: runs every benchmark and prints one table."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from bench import failover, gpu_probe, snapshot, stream_ingest, warm_wake

WORKDIR = Path(".bench").resolve()


def print_table(rows: list[tuple[str, str, str]]) -> None:
    headers = ("benchmark", "torpor", "note")
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(3)]
    for row in [headers, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> int:
    logging.disable(logging.INFO)  # in-process control planes' request logs would bury the tables
    shutil.rmtree(WORKDIR, ignore_errors=True)
    rows = stream_ingest.run(WORKDIR) + gpu_probe.run(WORKDIR)
    rows += snapshot.run(WORKDIR)  # size: TORPOR_BENCH_SNAPSHOT_SIZE, default 2GiB
    rows += warm_wake.run(WORKDIR)  # size: TORPOR_BENCH_WARM_SIZE, default 2GiB
    # crash, frozen host, control-plane outage: TORPOR_BENCH_FAILOVER_SIZE (2GiB) and
    # TORPOR_BENCH_OUTAGE_S (90, above the 60 s fence bound)
    rows += failover.run(WORKDIR)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
