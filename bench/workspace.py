"""A seeded, realistic GPU workspace for the snapshot benchmark, and a training-session mutation.

Snapshot tools are fast or slow for reasons a uniform tree hides: bf16/fp16 weights barely
compress (random mantissas, clustered exponents), text datasets compress 3-5x, a venv is
thousands of small files where per-file cost dominates, and a training session rewrites one
checkpoint, appends logs and edits a few KiB inside a big file. So the tree has all of these,
in proportions of `size`, plus the awkward entries (symlinks relative, absolute and dangling,
empty files, empty and deep directories) a restore has to get right.

Everything is a function of (seed, relative path): each file has its own `random.Random`, so
the tree is identical across runs and machines, whatever order it is written in. Bulk bytes
come from `Random.randbytes` (~400 MB/s) shaped with `bytes.translate`, so 2 GiB takes seconds.
numpy is not a dependency: `.npy` headers are written by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MiB = 2**20
GiB = 2**30
BLOCK = 4 * MiB  # bulk files are written a block at a time: memory stays flat at any size
FIXED_MTIME = 1_704_067_200  # 2024-01-01: files look old, as in a workspace used for weeks

# Fractions of the requested size; the bf16 weight shards take whatever is left.
FRACTIONS = {
    "models/base/tokenizer.json": 0.003,
    "models/lora/adapter_model.safetensors": 0.03,
    "checkpoints/step_01000/model.pt": 0.075,
    "checkpoints/step_02000/model.pt": 0.075,
    "checkpoints/last.pt": 0.045,  # what the mutation rewrites: ~4.5 % of the tree
    "data/train.jsonl": 0.08,
    "data/eval.jsonl": 0.01,
    "data/tokens.npy": 0.07,
    "data/embeddings.npy": 0.06,
    "logs/train.log": 0.008,
    "logs/old-run.log": 0.004,
    "logs/events.out.tfevents.1704067200.gpu-host": 0.004,
}
WEIGHT_SHARDS = 3
VENV_FILES_AT_2GIB = 5000
VENV_MIN_FILES = 60


def parse_size(text: str) -> int:
    """'2GiB', '256MiB', '64M', '1g' or a plain byte count."""
    units = {"k": 2**10, "m": MiB, "g": GiB, "t": 2**40}
    cleaned = text.strip().lower().removesuffix("b").removesuffix("i")
    if cleaned and cleaned[-1] in units:
        return int(float(cleaned[:-1]) * units[cleaned[-1]])
    return int(cleaned)


def _rng(seed: int, name: str) -> random.Random:
    # A str seed is hashed with SHA-512: stable across processes, unlike hash().
    return random.Random(f"{seed}/{name}")


# ---------------------------------------------------------------- bulk binary content


def _exponent_table(rng: random.Random, bits: int, centre: float, spread: float) -> list[int]:
    """256 samples of a clustered exponent: real weights sit in a few binades around 0.02."""
    top = (1 << bits) - 2
    return [max(1, min(top, round(rng.gauss(centre, spread)))) for _ in range(256)]


def _fp16_high_table(rng: random.Random) -> bytes:
    # fp16 high byte: sign(1) exponent(5) mantissa-top(2). The low byte is pure mantissa.
    exps = _exponent_table(rng, 5, 9.0, 1.0)
    return bytes(((i & 1) << 7) | (exps[i] << 2) | ((i >> 1) & 3) for i in range(256))


def _bf16_tables(rng: random.Random) -> tuple[bytes, bytes]:
    # bf16 high byte: sign(1) exponent-top(7); low byte: exponent-low(1) mantissa(7).
    # spread of 7 binades: layer norms, embeddings and projections all differ in scale;
    # with it zstd saves ~11 % on a shard, as it does on real bf16 checkpoints
    exps = _exponent_table(rng, 8, 121.0, 7.0)
    high = bytes(((i & 1) << 7) | (exps[i] >> 1) for i in range(256))
    low_bit = bytes((exps[i] & 1) << 7 for i in range(256))
    return high, low_bit


def _interleave(parts: list[bytes]) -> bytes:
    """Byte-interleave equal-length streams: parts[0] is byte 0 of each element (little end)."""
    width = len(parts)
    out = bytearray(len(parts[0]) * width)
    for index, part in enumerate(parts):
        out[index::width] = part
    return bytes(out)


def fp16_block(rng: random.Random, size: int, high: bytes) -> bytes:
    half = size // 2
    return _interleave([rng.randbytes(half), rng.randbytes(half).translate(high)])


def bf16_block(rng: random.Random, size: int, tables: tuple[bytes, bytes]) -> bytes:
    high, low_bit = tables
    half = size // 2
    selector = rng.randbytes(half)  # one exponent sample per element feeds both bytes
    mantissa = rng.randbytes(half).translate(bytes(i & 0x7F for i in range(256)))
    # OR of two byte strings at C speed: through big integers, not a loop over bytes
    merged = int.from_bytes(mantissa, "little") | int.from_bytes(
        selector.translate(low_bit), "little"
    )
    low = merged.to_bytes(half, "little")
    return _interleave([low, selector.translate(high)])


def fp32_block(rng: random.Random, size: int, high: bytes) -> bytes:
    """fp32 optimizer state / embeddings: three random mantissa bytes, one shaped byte."""
    quarter = size // 4
    return _interleave(
        [rng.randbytes(quarter) for _ in range(3)] + [rng.randbytes(quarter).translate(high)]
    )


def _fp32_high_table(rng: random.Random) -> bytes:
    exps = _exponent_table(rng, 8, 121.0, 1.5)
    return bytes(((i & 1) << 7) | (exps[i] >> 1) for i in range(256))


def _write_blocks(
    path: Path, size: int, block: Callable[[int], bytes], header: bytes = b""
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(header)
        left = max(0, size - len(header))
        while left > 0:
            n = min(BLOCK, left)
            data = block(n + (n % 4 and 4 - n % 4))  # generators want whole elements
            out.write(data[:n])
            left -= n


def _bf16_generator(rng: random.Random) -> Callable[[int], bytes]:
    tables = _bf16_tables(rng)
    return lambda n: bf16_block(rng, n, tables)


def _safetensors_header(names: list[str], dtype: str, total: int, itemsize: int) -> bytes:
    """A real safetensors header (u64 length + JSON), so the file looks like the real thing."""
    per = (total // len(names)) // (itemsize * 4096) * (itemsize * 4096)
    meta: dict[str, object] = {"__metadata__": {"format": "pt"}}
    for i, name in enumerate(names):
        rows = per // (itemsize * 4096)
        meta[name] = {
            "dtype": dtype,
            "shape": [rows, 4096],
            "data_offsets": [i * per, (i + 1) * per],
        }
    raw = json.dumps(meta, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw


def npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    """NPY format 1.0: magic, version, u16 header length, a dict literal padded to 64 bytes."""
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape!r}, }}"
    prefix = 10  # magic(6) + version(2) + length(2)
    text += " " * (-(prefix + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin-1")


# ---------------------------------------------------------------- text content


def _vocabulary(rng: random.Random, count: int = 6000) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ou", "ai")]
    return ["".join(rng.choices(syllables, k=rng.choice((1, 2, 2, 3, 3, 4)))) for _ in range(count)]


def _sentences(rng: random.Random, count: int) -> list[str]:
    vocab = _vocabulary(rng)
    # Zipf, like real text; cumulative weights computed once (choices would redo it per call)
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(vocab))))
    out = []
    for _ in range(count):
        words = rng.choices(vocab, cum_weights=cumulative, k=rng.randint(6, 22))
        out.append(" ".join(words).capitalize() + rng.choice((".", ".", ".", "?", "!")))
    return out


def _jsonl_lines(rng: random.Random, split: str) -> Iterator[bytes]:
    pool = _sentences(rng, 20000)
    sources = ["web", "books", "code", "wiki", "forum", "papers"]
    n = 0
    while True:
        record = {
            "id": f"{split}-{n:09d}",
            "source": rng.choice(sources),
            "text": " ".join(rng.choices(pool, k=rng.randint(2, 12))),
            "tokens": rng.randint(20, 600),
            "quality": round(rng.random(), 4),
        }
        yield json.dumps(record, separators=(",", ":")).encode() + b"\n"
        n += 1


def _log_lines(rng: random.Random, start_step: int = 0) -> Iterator[bytes]:
    step = start_step
    loss = 9.0 - min(start_step, 100_000) * 0.00005
    while True:
        loss = max(0.8, loss - 0.0004 + rng.gauss(0, 0.01))
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(FIXED_MTIME + step))
        line = (
            f"{stamp} INFO trainer step={step} loss={loss:.4f} lr={3e-4 * min(1, step / 2000):.3e} "
            f"grad_norm={abs(rng.gauss(1.0, 0.3)):.3f} tokens/s={rng.randint(90_000, 130_000)} "
            f"mem_alloc={rng.randint(60_000, 79_000)}MiB\n"
        )
        if step % 500 == 0:
            line += (
                f"{stamp} INFO eval step={step} eval_loss={loss + 0.05:.4f} ppl={2.718**loss:.2f}\n"
            )
        yield line.encode()
        step += 1


def _write_lines(path: Path, size: int, lines: Iterator[bytes], mode: str = "wb") -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open(mode) as out:
        batch: list[bytes] = []
        for line in lines:
            if written >= size:
                break
            batch.append(line)
            written += len(line)
            if len(batch) >= 4096:
                out.write(b"".join(batch))
                batch = []
        out.write(b"".join(batch))
    return written


# ---------------------------------------------------------------- small files


def _venv_file(rng: random.Random, stem: str, code_words: list[str]) -> tuple[str, bytes]:
    """One site-packages file: mostly .py source, then .pyc, a few (bigger) .so."""
    kind = rng.random()
    size = int(200 * (250 ** rng.random()))  # log-uniform 200 B .. 50 KiB
    if kind < 0.55:
        lines = []
        total = 0
        while total < size:
            words = rng.choices(code_words, k=rng.randint(2, 9))
            line = "    " * rng.randint(0, 3) + " ".join(words)
            lines.append(line)
            total += len(line) + 1
        return f"{stem}.py", ("\n".join(lines) + "\n").encode()
    if kind < 0.9:
        head, _, tail = stem.rpartition("/")
        name = f"{head}/__pycache__/{tail}" if head else f"__pycache__/{tail}"
        body = rng.randbytes(size // 3) + b"".join(
            rng.choice(code_words).encode() + b"\x00" for _ in range(size // 12)
        )
        return f"{name}.cpython-311.pyc", b"\xa7\r\r\n" + bytes(12) + body
    size *= 4
    elf = b"\x7fELF\x02\x01\x01" + bytes(57) + rng.randbytes(size // 2) + bytes(size // 2)
    return f"{stem}.cpython-311-x86_64-linux-gnu.so", elf


def _venv(root: Path, seed: int, count: int) -> None:
    """site-packages: .py sources, __pycache__/*.pyc, .so blobs, dist-info, empty __init__.py."""
    rng = _rng(seed, ".venv")
    site = root / ".venv/lib/python3.11/site-packages"
    code_words = [*_vocabulary(rng, 800), "def", "return", "self", "import", "class", "if", "None"]
    packages = max(3, count // 40)
    made = 0
    for p in range(packages):
        pkg = f"{rng.choice(code_words)}_{p}"
        pkg_dir = site / pkg
        for sub in ("", "_internal/", "utils/", "tests/")[: rng.randint(1, 4)]:
            (pkg_dir / sub / "__pycache__").mkdir(parents=True, exist_ok=True)
            (pkg_dir / sub / "__init__.py").touch()  # empty: most real __init__.py are
        info = site / f"{pkg}-1.{p % 7}.0.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "INSTALLER").write_text("pip\n")
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {pkg}\nVersion: 1.{p % 7}.0\n"
        )
        (info / "REQUESTED").touch()
        records = []
        per_pkg = max(1, (count - made) // (packages - p))
        for f in range(per_pkg):
            sub = rng.choice(("", "_internal/", "utils/", "tests/"))
            if not (pkg_dir / sub).exists():
                sub = ""
            name, data = _venv_file(rng, f"{sub}{rng.choice(code_words)}_{f}", code_words)
            target = pkg_dir / name
            target.write_bytes(data)
            if name.endswith(".so"):
                target.chmod(0o755)
            records.append(f"{pkg}/{name},sha256={hashlib.sha256(data).hexdigest()},{len(data)}")
            made += 1
        (info / "RECORD").write_text("\n".join(records) + "\n")
    bin_dir = root / ".venv/bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "python").symlink_to("/usr/bin/python3.11")  # absolute, may not exist on restore
    (bin_dir / "python3").symlink_to("python")  # relative, to a symlink
    activate = bin_dir / "activate"
    activate.write_text(
        'VIRTUAL_ENV="/workspace/.venv"\nexport VIRTUAL_ENV\nPATH="$VIRTUAL_ENV/bin:$PATH"\n'
    )
    for tool in ("pip", "torchrun", "accelerate"):
        script = bin_dir / tool
        script.write_text(
            f"#!/workspace/.venv/bin/python\nimport sys\nfrom {tool} import main\n"
            "sys.exit(main())\n"
        )
        script.chmod(0o755)
    (root / ".venv/pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.2\n")
    (root / ".venv/lib64").symlink_to("lib")  # relative directory symlink


def _odds_and_ends(root: Path, seed: int) -> None:
    """Config, source, deep directories, empty files and dirs, and symlinks of every kind."""
    rng = _rng(seed, "misc")
    deep = root / "src/project/models/layers/attention/kernels/triton/generated"
    deep.mkdir(parents=True, exist_ok=True)
    for i in range(12):
        (deep / f"kernel_{i}.py").write_text(
            f"# generated kernel {i}\nBLOCK = {2 ** (i % 8)}\n" * rng.randint(5, 60)
        )
    (root / "src/project/__init__.py").touch()
    (root / "src/project/train.py").write_text("import torch\n\n\ndef main():\n    pass\n" * 40)
    (root / "configs").mkdir(exist_ok=True)
    (root / "configs/train.yaml").write_text(
        "lr: 3.0e-4\nbatch_size: 32\nwarmup: 2000\nbf16: true\n"
    )
    (root / "models/base/config.json").write_text(
        json.dumps(
            {"hidden_size": 4096, "num_hidden_layers": 32, "torch_dtype": "bfloat16"}, indent=2
        )
    )
    (root / "outputs/tmp").mkdir(parents=True, exist_ok=True)  # empty directory
    (root / "outputs/.lock").touch()  # empty file
    (root / "data/.gitkeep").touch()
    (root / ".cache/huggingface").mkdir(parents=True, exist_ok=True)
    (root / ".cache/huggingface/token").write_text("")  # empty file written with write_text
    (root / "checkpoints/latest").symlink_to("step_02000")  # relative dir symlink
    (root / "models/current").symlink_to("base/model-00001-of-00003.safetensors")  # file symlink
    (root / "data/hf-cache").symlink_to("/nonexistent/hf-cache/datasets")  # dangling, absolute
    (root / "logs/latest.log").symlink_to("train.log")
    (root / "outputs/broken").symlink_to("../missing/file.bin")  # dangling, relative
    notes = root / "notes with spaces & ünïcode.md"
    notes.write_text("# Experiment notes\n\n- try lr 1e-4\n")


def _bulk(root: Path, seed: int, relative: str, size: int) -> None:
    rng = _rng(seed, relative)
    path = root / relative
    if relative.endswith(".jsonl"):
        _write_lines(path, size, _jsonl_lines(rng, Path(relative).stem))
    elif relative.endswith(".log"):
        _write_lines(path, size, _log_lines(rng))
    elif "tfevents" in relative:
        _write_blocks(path, size, lambda n: rng.randbytes(n // 2) + bytes(n - n // 2))
    elif relative.endswith("tokenizer.json"):
        vocab = _vocabulary(rng, 50000)
        body = json.dumps(
            {"model": {"type": "BPE", "vocab": {w + str(i): i for i, w in enumerate(vocab)}}}
        )
        raw = (body * (size // len(body) + 1))[:size]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(raw)
    elif relative.endswith("tokens.npy"):
        count = (size - 128) // 2  # the header is 128 bytes for a 1-d shape
        header = npy_header("<u2", (count,))
        # token ids: Zipf-ish over a 32k vocabulary, 2 bytes each
        table = bytes(min(127, int(rng.expovariate(0.08))) for _ in range(256))
        _write_blocks(
            path,
            len(header) + count * 2,
            lambda n: _interleave([rng.randbytes(n // 2), rng.randbytes(n // 2).translate(table)]),
            header,
        )
    elif relative.endswith("embeddings.npy"):
        rows = max(1, size // (768 * 4))
        header = npy_header("<f4", (rows, 768))
        high = _fp32_high_table(rng)
        _write_blocks(
            path, len(header) + rows * 768 * 4, lambda n: fp32_block(rng, n, high), header
        )
    elif relative.endswith(".pt"):
        high = _fp32_high_table(rng)
        header = b"PK\x03\x04" + b"archive/data.pkl".ljust(60, b"\x00")  # torch.save is a zip
        _write_blocks(path, size, lambda n: fp32_block(rng, n, high), header)
    elif "lora" in relative:
        high = _fp16_high_table(rng)
        header = _safetensors_header([f"lora_{i}.weight" for i in range(64)], "F16", size, 2)
        _write_blocks(path, size, lambda n: fp16_block(rng, n, high), header)
    else:
        raise ValueError(f"no generator for {relative}")


def generate(root: Path, size: int = 2 * GiB, seed: int = 0) -> None:
    """Write the workspace under `root` (which must not exist or be empty)."""
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    for relative, fraction in FRACTIONS.items():
        _bulk(root, seed, relative, int(size * fraction))
    venv_files = max(VENV_MIN_FILES, round(VENV_FILES_AT_2GIB * size / (2 * GiB)))
    _venv(root, seed, min(VENV_FILES_AT_2GIB, venv_files))
    (root / "models/base").mkdir(parents=True, exist_ok=True)
    _odds_and_ends(root, seed)
    left = size - tree_bytes(root)
    for shard in range(1, WEIGHT_SHARDS + 1):
        relative = f"models/base/model-{shard:05d}-of-{WEIGHT_SHARDS:05d}.safetensors"
        shard_size = max(4096, left // WEIGHT_SHARDS)
        rng = _rng(seed, relative)
        header = _safetensors_header(
            [f"layers.{shard}.{i}.weight" for i in range(32)], "BF16", shard_size, 2
        )
        _write_blocks(root / relative, shard_size, _bf16_generator(rng), header)
    _age(root)


def _age(root: Path) -> None:
    """Fixed mtimes: deterministic, and old, as a real workspace's files are (tools' caches
    treat files modified in the last second specially)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*filenames, *dirnames]:
            os.utime(Path(dirpath) / name, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
    os.utime(root, (FIXED_MTIME, FIXED_MTIME))


def tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, filenames in os.walk(root):
        for name in filenames:
            st = os.lstat(Path(dirpath) / name)
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


# ---------------------------------------------------------------- mutation


@dataclass
class MutationStats:
    bytes_written: int  # new content: rewritten, appended, overwritten in place, added
    bytes_deleted: int
    files_added: int
    files_deleted: int
    files_changed: int


def mutate(root: Path, seed: int = 1) -> MutationStats:
    """One training session: ~5 % of the bytes. Rewrites checkpoints/last.pt, appends to the
    training log, overwrites 4 KiB at 8 offsets inside a weight shard (same size, in place),
    adds an eval file, a checkpoint's metadata and a small package, deletes an old log and
    a few venv files."""
    rng = _rng(seed, "mutate")
    total = tree_bytes(root)
    written = deleted = added = removed = changed = 0

    last = root / "checkpoints/last.pt"
    size = last.stat().st_size
    last.unlink()  # torch.save writes a new file: a new inode, as here
    _bulk(root, seed + 1_000_003, "checkpoints/last.pt", size)
    written += size
    changed += 1

    log = root / "logs/train.log"
    written += _write_lines(log, int(total * 0.004), _log_lines(rng, start_step=200_000), mode="ab")
    changed += 1

    shard = root / "models/base/model-00002-of-00003.safetensors"
    shard_size = shard.stat().st_size
    with shard.open("r+b") as f:
        for _ in range(8):
            f.seek(rng.randrange(4096, max(4097, shard_size - 4096)))
            f.write(rng.randbytes(4096))
            written += 4096
    changed += 1

    written += _write_lines(
        root / "data/eval_step3000.jsonl", int(total * 0.004), _jsonl_lines(rng, "eval3000")
    )
    meta = root / "checkpoints/step_03000/trainer_state.json"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"global_step": 3000, "loss": [rng.random() for _ in range(300)]}))
    written += meta.stat().st_size
    added += 2
    new_pkg = root / ".venv/lib/python3.11/site-packages/newdep"
    new_pkg.mkdir(parents=True, exist_ok=True)
    budget = max(25 * 40, int(total * 0.002))  # a pip install: 0.2 % of the tree in 25 files
    for i in range(25):
        line = f"def f{i}(x):\n    return x * {rng.random()}\n".encode()
        data = line * max(1, int(budget / 25 / len(line) * rng.uniform(0.2, 1.8)))
        (new_pkg / f"mod_{i}.py").write_bytes(data)
        written += len(data)
        added += 1

    old = root / "logs/old-run.log"
    if old.exists():
        deleted += old.stat().st_size
        old.unlink()
        removed += 1
    candidates = sorted(
        p for p in (root / ".venv/lib/python3.11/site-packages").rglob("*.py") if p.stat().st_size
    )
    for victim in rng.sample(candidates, min(20, len(candidates))):
        deleted += victim.stat().st_size
        victim.unlink()
        removed += 1
    return MutationStats(written, deleted, added, removed, changed)


# ---------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Entry:
    kind: str  # "f" file, "d" directory, "l" symlink
    mode: int
    size: int
    digest: str  # sha256 for files, link target for symlinks, "" for directories


def manifest(root: Path) -> dict[str, Entry]:
    """Paths, kinds, permission bits, sizes, sha256 and link targets: what a restore must
    reproduce. mtimes and owners are left out (tools differ in whether they keep them)."""
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = base / name
            relative = str(path.relative_to(root))
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[relative] = Entry("l", 0, 0, str(path.readlink()))
            elif stat.S_ISDIR(st.st_mode):
                out[relative] = Entry("d", mode, 0, "")
            elif stat.S_ISREG(st.st_mode):
                with path.open("rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
                out[relative] = Entry("f", mode, st.st_size, digest)
            else:
                out[relative] = Entry("?", mode, st.st_size, "")
    return out


def diff(expected: dict[str, Entry], actual: dict[str, Entry], limit: int = 5) -> list[str]:
    """Human-readable differences, at most `limit`; empty when the trees match."""
    problems = [f"missing {p}" for p in sorted(expected.keys() - actual.keys())]
    problems += [f"extra {p}" for p in sorted(actual.keys() - expected.keys())]
    problems += [
        f"differs {p}: {expected[p]} != {actual[p]}"
        for p in sorted(expected.keys() & actual.keys())
        if expected[p] != actual[p]
    ]
    if len(problems) > limit:
        problems = [*problems[:limit], f"... {len(problems) - limit} more"]
    return problems


def composition(root: Path) -> dict[str, tuple[int, int]]:
    """(files, bytes) per top-level kind, for the report."""
    groups: dict[str, tuple[int, int]] = {}
    for relative, entry in manifest(root).items():
        if entry.kind == "l":
            key = "symlinks"
        elif entry.kind == "d":
            key = "directories"
        elif entry.size == 0:
            key = "empty files"
        else:
            key = relative.split("/")[0] + "/" if "/" in relative else "top-level files"
        files, size = groups.get(key, (0, 0))
        groups[key] = (files + 1, size + entry.size)
    return groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("root", type=Path)
    parser.add_argument("--size", default="2GiB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mutate", action="store_true", help="mutate an existing tree instead")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.mutate:
        print(mutate(args.root, args.seed))
    else:
        generate(args.root, parse_size(args.size), args.seed)
    print(f"{time.perf_counter() - started:.1f} s")
    for key, (files, size) in sorted(composition(args.root).items()):
        print(f"  {key:<14} {files:>6} entries {size / MiB:>9.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
