"""`make bench-snapshot`: torpor's snapshot against restic, borg and `tar | zstd`, in one run.

The targets are ratios to reference tools measured in the same run on the same machine, so
the figures survive a slower disk or a busier neighbour. Phases run tool by tool with the
page cache dropped before each (when allowed): every tool backs up the same generated tree,
then the tree gets one training session's mutation and every tool backs it up again, then
each restores its latest snapshot into a fresh directory, which is checked file by file
against the source (a fast restore that is wrong is flagged, not ranked). `cp -a` of the
tree is the floor for a restore: writing the same new files with nothing to decode.

Run alone: `python -m bench.snapshot --size 256MiB`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from bench import workspace
from bench.snapshot_tools import (
    Borg,
    CopyTree,
    Restic,
    TarZstd,
    Timing,
    Tool,
    ToolError,
    Torpor,
    drop_caches,
)

MiB = 2**20
DEFAULT_SIZE = os.environ.get("TORPOR_BENCH_SNAPSHOT_SIZE", "2GiB")
DEFAULT_COMPRESSIONS = ("zstd:1", "zstd:3", "lz4")
RSS_LIMIT_MIB = 400 * 10**6 / MiB  # "under 400 MB"
T = TypeVar("T")


@dataclass
class Result:
    tool: Tool
    skipped: str | None = None  # why the tool did not run at all
    error: str | None = None  # the first phase that failed
    first: Timing | None = None
    second: Timing | None = None
    restored: Timing | None = None
    repo_first: int | None = None
    repo_second: int | None = None
    restore_problems: list[str] = field(default_factory=list)

    @property
    def growth(self) -> int | None:
        if self.repo_first is None or self.repo_second is None:
            return None
        return self.repo_second - self.repo_first

    @property
    def peak_rss(self) -> float | None:
        values = [t.peak_rss_mib for t in (self.first, self.second) if t and t.peak_rss_mib]
        return max(values) if values else None


@dataclass
class Report:
    size: int
    cold: bool
    composition: dict[str, tuple[int, int]]
    mutation: workspace.MutationStats
    generate_s: float
    results: list[Result]
    neighbour: bool = False  # a CPU-bound process ran beside every phase

    def get(self, name: str) -> Result | None:
        return next((r for r in self.results if r.tool.name == name), None)


def tools(compressions: tuple[str, ...]) -> list[Tool]:
    return [
        *(Torpor(c) for c in compressions),
        Restic(),
        Borg(),
        TarZstd(),
        CopyTree(),
    ]


def _phase(result: Result, action: str, step: Callable[[], T]) -> T | None:
    """Runs one phase of one tool; a failure is recorded in its row and ends its run."""
    if result.skipped or result.error:
        return None
    try:
        return step()
    except (ToolError, OSError, ValueError, KeyError) as error:
        result.error = f"{action}: {error}"
        return None


def measure(
    workdir: Path, size: int, compressions: tuple[str, ...], seed: int = 0, neighbour: bool = False
) -> Report:
    """Every phase of every tool; with `neighbour`, a CPU-bound process runs beside them all
    (a training job's data loader: what a wake on a busy host competes with)."""
    with busy_neighbour(neighbour):
        report = _measure(workdir, size, compressions, seed)
    report.neighbour = neighbour
    return report


@contextlib.contextmanager
def busy_neighbour(on: bool) -> Iterator[None]:
    """A process spinning on one core for the block, killed after it."""
    if not on:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def _measure(workdir: Path, size: int, compressions: tuple[str, ...], seed: int) -> Report:
    shutil.rmtree(workdir / "snapshot", ignore_errors=True)
    base = workdir / "snapshot"
    src = base / "workspace"
    started = time.perf_counter()
    workspace.generate(src, size, seed)
    generate_s = time.perf_counter() - started
    composition = workspace.composition(src)
    results = [Result(tool, skipped=tool.unavailable()) for tool in tools(compressions)]
    cold = True

    def dropped() -> None:
        nonlocal cold
        cold = drop_caches() and cold

    for result in results:
        slug = result.tool.name.replace(" ", "-").replace(":", "").replace("|", "-")
        _phase(result, "init", partial(result.tool.init, base / "repos" / slug))
        dropped()
        result.first = _phase(result, "first backup", partial(result.tool.backup, src))
        if not (result.skipped or result.error):
            result.repo_first = result.tool.repo_size()
    mutation = workspace.mutate(src, seed + 1)
    for result in results:
        dropped()
        result.second = _phase(result, "second backup", partial(result.tool.backup, src))
        if not (result.skipped or result.error):
            result.repo_second = result.tool.repo_size()
    expected = workspace.manifest(src)
    for result in results:
        dst = base / "restore"
        shutil.rmtree(dst, ignore_errors=True)
        dst.mkdir(parents=True)
        dropped()
        result.restored = _phase(result, "restore", partial(result.tool.restore, dst))
        if result.restored:
            result.restore_problems = workspace.diff(expected, workspace.manifest(dst))
        shutil.rmtree(dst, ignore_errors=True)
    return Report(size, cold, composition, mutation, generate_s, results)


# ---------------------------------------------------------------- presentation


def _s(t: Timing | None) -> str:
    return f"{t.wall_s:.2f}" if t else "-"


def _mib(n: int | float | None) -> str:
    return f"{n / MiB:.1f}" if n is not None else "-"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in lines)


def tool_table(report: Report) -> str:
    headers = [
        "tool", "first s", "mutated s", "restore s", "+sync s", "repo MiB",
        "growth MiB", "reported new MiB", "peak RSS MiB", "restore check",
    ]  # fmt: skip
    rows = []
    for r in report.results:
        if r.skipped or (r.error and not r.first):
            rows.append([r.tool.name, *["-"] * 8, r.skipped or f"failed: {r.error}"])
            continue
        cp = r.tool.name == "cp -a"
        check = "ok" if r.restored and not r.restore_problems else "-"
        if r.restore_problems:
            check = "WRONG: " + "; ".join(r.restore_problems[:2])
        if r.error:
            check = f"failed: {r.error}"
        rows.append(
            [
                r.tool.name,
                "-" if cp else _s(r.first),
                "-" if cp else _s(r.second),
                _s(r.restored),
                f"{r.restored.sync_s:.2f}" if r.restored else "-",
                "-" if cp else _mib(r.repo_first),
                "-" if cp else _mib(r.growth),
                _mib(r.second.new_data) if r.second and r.second.new_data is not None else "-",
                f"{r.peak_rss:.0f}" if r.peak_rss else "-",
                check,
            ]
        )
    return _table(headers, rows)


def _ratio(reference: Timing | None, ours: Timing | None) -> float | None:
    if not reference or not ours or ours.wall_s <= 0:
        return None
    return reference.wall_s / ours.wall_s


@dataclass
class Check:
    label: str
    value: float | None
    target: str
    ok: bool | None

    def row(self) -> list[str]:
        shown = "n/a" if self.value is None else f"{self.value:.2f}x"
        verdict = "-" if self.ok is None else ("PASS" if self.ok else "FAIL")
        return [self.label, shown, self.target, verdict]


def checks(report: Report, torpor: Result) -> list[Check]:
    """The issue's targets, each as a ratio in this run; None where a side did not run."""
    restic, borg, tar, cp = (report.get(n) for n in ("restic", "borg lz4", "tar|zstd -1", "cp -a"))

    def ratio(ref: Result | None, phase: str) -> float | None:
        if ref is None or ref.error or torpor.error:
            return None
        return _ratio(getattr(ref, phase), getattr(torpor, phase))

    def at_least(value: float | None, bound: float) -> bool | None:
        return None if value is None else value >= bound

    # Issue 14's targets, with encryption on: first and incremental <= 0.5x restic's time,
    # restore <= 0.6x restic's and <= 1.2x `cp -a`'s (ratios reference / torpor here).
    out = [
        Check("first: restic / torpor", r := ratio(restic, "first"), ">= 2.00x", at_least(r, 2.0)),
        Check("first: borg / torpor", r := ratio(borg, "first"), ">= 1.00x", at_least(r, 1.0)),
        Check("first: tar|zstd / torpor", ratio(tar, "first"), "(context)", None),
        Check(
            "mutated: restic / torpor", r := ratio(restic, "second"), ">= 2.00x", at_least(r, 2.0)
        ),
        Check("mutated: borg / torpor", r := ratio(borg, "second"), ">= 1.00x", at_least(r, 1.0)),
        Check(
            "restore: restic / torpor",
            r := ratio(restic, "restored"),
            ">= 1.67x",
            at_least(r, 1.667),
        ),
        Check(
            "restore: tar|zstd / torpor", r := ratio(tar, "restored"), ">= 1.00x", at_least(r, 1.0)
        ),
        Check(
            "restore: cp -a / torpor", r := ratio(cp, "restored"), ">= 0.83x", at_least(r, 0.833)
        ),
    ]
    if restic and restic.repo_first and torpor.repo_first:
        value = restic.repo_first / torpor.repo_first
        out.append(Check("repo size: restic / torpor", value, ">= 1.00x", value >= 1.0))
    if restic and restic.growth and torpor.growth is not None:
        value = restic.growth / max(torpor.growth, 1)
        out.append(Check("new data: restic / torpor", value, ">= 1.00x", value >= 1.0))
    rss = torpor.peak_rss
    if rss and restic and restic.peak_rss:
        value = restic.peak_rss / rss
        out.append(Check("peak RSS: restic / torpor", value, ">= 1.00x", value >= 1.0))
    out.append(
        Check(
            f"peak RSS {rss:.0f} MiB / 400 MB" if rss else "peak RSS / 400 MB",
            rss / RSS_LIMIT_MIB if rss else None,
            "< 1.00x",
            None if rss is None else rss < RSS_LIMIT_MIB,
        )
    )
    return out


def render(report: Report) -> str:
    lines = [
        f"snapshot benchmark: {report.size / MiB:,.0f} MiB workspace generated in "
        f"{report.generate_s:.1f} s; "
        + (
            ("a CPU-bound neighbour running; " if report.neighbour else "")
            + "cold cache (dropped before each phase)"
            if report.cold
            else "warm cache (could not drop it)"
        ),
        "composition: "
        + ", ".join(
            f"{k} {n} / {b / MiB:.0f} MiB" for k, (n, b) in sorted(report.composition.items())
        ),
        f"mutation: {report.mutation.bytes_written / MiB:.1f} MiB written "
        f"({report.mutation.bytes_written / report.size:.1%}), "
        f"{report.mutation.files_added} files added, "
        f"{report.mutation.files_deleted} deleted ({report.mutation.bytes_deleted / MiB:.1f} MiB)",
        "",
        tool_table(report),
    ]
    for result in report.results:
        if not result.tool.reference and not result.skipped:
            lines += ["", f"targets for {result.tool.name}:"]
            lines.append(
                _table(["target", "value", "goal", ""], [c.row() for c in checks(report, result)])
            )
    return "\n".join(lines)


def summary_rows(report: Report) -> list[tuple[str, str, str]]:
    """Rows for `make bench`'s shared table: torpor's best setting against the references."""
    size = (
        f"{report.size / 2**30:.3g} GiB" if report.size >= 2**30 else f"{report.size / MiB:.0f} MiB"
    )
    restic, borg, tar, cp = (report.get(n) for n in ("restic", "borg lz4", "tar|zstd -1", "cp -a"))
    ours = [r for r in report.results if not r.tool.reference and not r.skipped and not r.error]
    best = min(ours, key=lambda r: r.first.wall_s if r.first else float("inf"), default=None)

    def refs(phase: str, *results: Result | None) -> str:
        parts = [
            f"{r.tool.name} {getattr(r, phase).wall_s:.1f} s"
            for r in results
            if r and getattr(r, phase)
        ]
        return ", ".join(parts)

    def mine(phase: str) -> str:
        if best is None:
            skipped = next((r.skipped for r in report.results if not r.tool.reference), None)
            return "not available" if skipped else "failed"
        timing = getattr(best, phase)
        return f"{timing.wall_s:.1f} s ({best.tool.name})" if timing else "-"

    return [
        (f"snapshot first, {size}", mine("first"), refs("first", restic, borg, tar)),
        ("snapshot after ~5% mutation", mine("second"), refs("second", restic, borg, tar)),
        ("snapshot restore", mine("restored"), refs("restored", restic, tar, cp)),
    ]


def run(
    workdir: Path,
    size: int | str = DEFAULT_SIZE,
    compressions: tuple[str, ...] = DEFAULT_COMPRESSIONS,
) -> list[tuple[str, str, str]]:
    """The `make bench` entry: measures, prints the detailed table, returns summary rows."""
    nbytes = workspace.parse_size(size) if isinstance(size, str) else size
    report = measure(workdir, nbytes, compressions)
    print(render(report), flush=True)
    shutil.rmtree(workdir / "snapshot", ignore_errors=True)
    return summary_rows(report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="torpor snapshot vs restic, borg, tar|zstd")
    parser.add_argument("--size", default=DEFAULT_SIZE, help="workspace size, e.g. 2GiB, 256MiB")
    parser.add_argument(
        "--compression",
        default=",".join(DEFAULT_COMPRESSIONS),
        help="comma-separated torpor settings to compare (zstd:N, lz4, none)",
    )
    parser.add_argument("--workdir", type=Path, default=Path(".bench").resolve())
    parser.add_argument("--keep", action="store_true", help="keep the workspace and repositories")
    parser.add_argument(
        "--neighbour", action="store_true", help="a CPU-bound process runs beside every phase"
    )
    args = parser.parse_args(argv)
    compressions = tuple(c.strip() for c in args.compression.split(",") if c.strip())
    size = workspace.parse_size(args.size)
    report = measure(args.workdir, size, compressions, neighbour=args.neighbour)
    print(render(report))
    if not args.keep:
        shutil.rmtree(args.workdir / "snapshot", ignore_errors=True)
    wrong = [r.tool.name for r in report.results if r.restore_problems]
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
