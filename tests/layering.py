"""Checks the import layering of docs/design.md, "Components".

The agent, the control plane and torporctl never import one another; the
wire contract and the common helpers import nothing of ours. Read from the
source with `ast` (no import side effects), so it also runs on a tree that
does not install.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER_OF_PACKAGE = {
    "torpor.agent": "agent",
    "torpor.controlplane": "controlplane",
    "torpor.ctl": "torporctl",
    "torpor.common": "common",
    "torpor.proto": "proto/gen",
}
MAY_IMPORT = {
    "torpor.agent": {"torpor.agent", "torpor.common", "torpor.proto"},
    "torpor.controlplane": {"torpor.controlplane", "torpor.common", "torpor.proto"},
    "torpor.ctl": {"torpor.ctl", "torpor.common", "torpor.proto"},
    "torpor.common": {"torpor.common"},
    "torpor.proto": {"torpor.proto"},
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Absolute module names imported by one file, with their line numbers."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def violations() -> list[str]:
    found = []
    for package, folder in FOLDER_OF_PACKAGE.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, module in imported_modules(path):
                top = ".".join(module.split(".")[:2])
                if module.startswith("torpor.") and top not in MAY_IMPORT[package]:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {package} imports {module}")
    return found


def main() -> int:
    found = violations()
    for line in found:
        print(line)
    print(f"layering: {len(found)} violation(s)" if found else "layering: ok")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
