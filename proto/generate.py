"""Generates the Python code of the wire contract into proto/gen/.

The .proto files live in proto/torpor/v1/ (proto package `torpor.v1`); the
generated modules must import each other as `torpor.proto.v1.…`, so the
sources are staged under torpor/proto/v1/ before protoc runs. `--check`
generates into a temporary folder and fails if proto/gen/ differs: that is
how `make check` catches a stale contract.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
SOURCES = PROTO_ROOT / "torpor" / "v1"
OUTPUT = PROTO_ROOT / "gen"
STAGED_PACKAGE = Path("torpor") / "proto" / "v1"
PACKAGE_DOC = '"""Generated code of the torpor wire contract. Do not edit: `make proto`."""\n'


def generate(into: Path) -> None:
    """Runs protoc over every .proto file and writes the package into `into`."""
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "src" / STAGED_PACKAGE
        staged.mkdir(parents=True)
        for proto in sorted(SOURCES.glob("*.proto")):
            text = proto.read_text().replace('import "torpor/v1/', 'import "torpor/proto/v1/')
            (staged / proto.name).write_text(text)
        out = Path(tmp) / "out"
        out.mkdir()
        well_known = Path(grpc_tools.__file__).parent / "_proto"
        args = [
            "grpc_tools.protoc",
            f"-I{Path(tmp) / 'src'}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--mypy_out={out}",
            f"--grpc_python_out={out}",
            f"--mypy_grpc_out={out}",
            *[str(STAGED_PACKAGE / p.name) for p in sorted(staged.glob("*.proto"))],
        ]
        if protoc.main(args) != 0:
            sys.exit("protoc failed: see the messages above")
        _assemble(out / STAGED_PACKAGE, into)


def _assemble(generated: Path, into: Path) -> None:
    if into.exists():
        shutil.rmtree(into)
    (into / "v1").mkdir(parents=True)
    (into / "__init__.py").write_text(PACKAGE_DOC)
    (into / "py.typed").write_text("")
    (into / "v1" / "__init__.py").write_text(PACKAGE_DOC)
    for path in sorted(generated.iterdir()):
        shutil.copyfile(path, into / "v1" / path.name)


def differences(left: Path, right: Path) -> list[str]:
    """Names the files that differ between two generated trees."""
    cmp = filecmp.dircmp(left, right)
    found = [*cmp.left_only, *cmp.right_only, *cmp.diff_files]
    for sub in cmp.common_dirs:
        found += [f"{sub}/{name}" for name in differences(left / sub, right / sub)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if proto/gen/ is stale")
    if not parser.parse_args().check:
        generate(OUTPUT)
        return
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "gen"
        generate(fresh)
        stale = differences(fresh, OUTPUT) if OUTPUT.exists() else ["proto/gen (missing)"]
    if stale:
        sys.exit(f"generated code is stale ({', '.join(stale)}): run `make proto` and commit")
    print("proto/gen is up to date")


if __name__ == "__main__":
    main()
