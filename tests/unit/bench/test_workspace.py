"""The snapshot benchmark's workspace generator: deterministic, every kind of entry a restore
must get right, and a mutation of about the intended size (the benchmark's 'after a training
session' figures mean nothing if it changes 0.5 % or 50 %)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from bench import workspace
from bench.snapshot_tools import CopyTree

pytestmark = pytest.mark.unit

SIZE = 4 * workspace.MiB


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("ws")
    workspace.generate(base / "a", SIZE, seed=7)
    workspace.generate(base / "b", SIZE, seed=7)
    return base / "a", base / "b"


def test_same_seed_same_tree_and_size_as_asked(trees: tuple[Path, Path]) -> None:
    first, second = trees
    assert workspace.manifest(first) == workspace.manifest(second)
    assert abs(workspace.tree_bytes(first) - SIZE) < SIZE * 0.02


def test_other_seed_other_content(tmp_path: Path, trees: tuple[Path, Path]) -> None:
    workspace.generate(tmp_path / "c", SIZE, seed=8)
    ours, theirs = workspace.manifest(trees[0]), workspace.manifest(tmp_path / "c")
    shard = "models/base/model-00001-of-00003.safetensors"
    assert ours[shard].digest != theirs[shard].digest


def test_every_kind_of_entry(trees: tuple[Path, Path]) -> None:
    root = trees[0]
    entries = workspace.manifest(root)
    links = {path: e.digest for path, e in entries.items() if e.kind == "l"}
    assert any(not t.startswith("/") and (root / p).exists() for p, t in links.items())  # relative
    assert any(t.startswith("/") for t in links.values())  # absolute
    assert any(not (root / p).exists() for p in links)  # dangling
    assert any(e.kind == "f" and e.size == 0 for e in entries.values())  # empty file
    empty_dirs = [p for p, e in entries.items() if e.kind == "d" and not any((root / p).iterdir())]
    assert empty_dirs
    assert max(p.count("/") for p in entries) >= 6  # nested
    assert any(e.kind == "f" and e.mode & 0o111 for e in entries.values())  # executables
    venv = [p for p in entries if p.startswith(".venv/") and entries[p].kind == "f"]
    assert len(venv) >= workspace.VENV_MIN_FILES


@pytest.mark.parametrize(("name", "itemsize"), [("data/tokens.npy", 2), ("data/embeddings.npy", 4)])
def test_npy_header_is_valid(trees: tuple[Path, Path], name: str, itemsize: int) -> None:
    raw = (trees[0] / name).read_bytes()
    assert raw[:8] == b"\x93NUMPY\x01\x00"
    length = int.from_bytes(raw[8:10], "little")
    assert (10 + length) % 64 == 0
    header = ast.literal_eval(raw[10 : 10 + length].decode("latin-1"))
    assert header["fortran_order"] is False
    count = 1
    for dim in header["shape"]:
        count *= dim
    assert len(raw) == 10 + length + count * itemsize


def test_mutation_changes_about_five_percent(tmp_path: Path, trees: tuple[Path, Path]) -> None:
    before = tmp_path / "before"
    after = tmp_path / "after"
    copier = CopyTree()
    copier.backup(trees[1])
    copier.restore(before)
    copier.restore(after)
    total = workspace.tree_bytes(before)
    stats = workspace.mutate(after, seed=3)
    assert 0.03 < stats.bytes_written / total < 0.08
    assert stats.files_added > 0
    assert stats.files_deleted > 0

    old, new = workspace.manifest(before), workspace.manifest(after)
    assert new["checkpoints/last.pt"].digest != old["checkpoints/last.pt"].digest
    assert new["logs/train.log"].size > old["logs/train.log"].size
    assert "logs/old-run.log" not in new
    shard = "models/base/model-00002-of-00003.safetensors"
    assert new[shard].size == old[shard].size
    assert new[shard].digest != old[shard].digest
    # in place: only a few 4 KiB blocks of the shard differ
    differing = _differing_bytes(before / shard, after / shard)
    assert 0 < differing <= 8 * 2 * 4096


def _differing_bytes(a: Path, b: Path, block: int = 4096) -> int:
    count = 0
    with a.open("rb") as left, b.open("rb") as right:
        while chunk := left.read(block):
            if chunk != right.read(block):
                count += len(chunk)
    return count


def test_parse_size() -> None:
    assert workspace.parse_size("2GiB") == 2 * 2**30
    assert workspace.parse_size("256MiB") == 256 * 2**20
    assert workspace.parse_size("64M") == 64 * 2**20
    assert workspace.parse_size("1000") == 1000
    assert os.sep == "/"
