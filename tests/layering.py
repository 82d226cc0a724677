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


def _folder_of_package() -> dict[str, str]:
    """The package -> folder map, read from setup.py so it is written down once."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "FOLDER_OF_PACKAGE":
            return dict(ast.literal_eval(node.value))
    raise LookupError("setup.py has no FOLDER_OF_PACKAGE")


FOLDER_OF_PACKAGE = _folder_of_package()
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
