"""Checks the import layering of docs/design.md, "Components" and "Layers".

Three rules, read from the source with `ast` (no import side effects, so it also runs
on a tree that does not install):
1. The agent, the control plane and torporctl never import one another; the wire
   contract and the common helpers import nothing of ours.
2. Inside the control plane, a package imports only packages of lower layers
   (`CONTROL_PLANE_LAYERS`, lowest first); packages of one layer never import each other.
3. No import cycle between modules, in any of our packages.
Relative imports are resolved, so `from ..instances import store` counts like the
absolute import it is.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
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
CONTROL_PLANE_LAYERS: list[set[str]] = [
    {"errors"},  # the one error vocabulary
    {"validation", "status_codes"},  # checks of input; errors -> HTTP and gRPC codes
    {"db"},  # tables, migrations, engines
    {"events", "identity", "repository_keys"},  # the bus; host/admin tokens; repository keys
    {"accounts"},  # users, teams, roles, API keys
    {"savings", "fleet"},  # the ledger; hosts, their streams and liveness
    {"providers"},  # rent and release machines (local, clouds)
    {"instances"},  # the lifecycle core: operations and their steps
    {"warmpool", "failover"},  # standbys (implement instances' claims); failover, fencing
    {"operators"},  # drains
    {"settings"},  # the control plane's settings (TORPOR_*)
    {"configure"},  # each concern's configuration, made from the settings
    {"services"},  # the composition root
    {"provider_factory"},  # the configured provider, once gRPC's port is known
    {"grpc"},  # transport: agents and torporctl
    {"runtime"},  # starts services, gRPC, the provider
    {"http"},  # transport: users (Litestar controllers over the running control plane)
    {"app"},  # the Litestar application
    {"cli"},  # `torpor-controlplane`
]
"""Control-plane packages (and top-level modules) by layer, lowest first."""
LAYER_OF = {name: index for index, layer in enumerate(CONTROL_PLANE_LAYERS) for name in layer}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Absolute module names imported by one file, with their line numbers."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def module_name(package: str, folder: Path, path: Path) -> str:
    """`torpor.controlplane.instances.store` for controlplane/instances/store.py."""
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def imports_of(module: str, path: Path, known: set[str]) -> Iterable[tuple[int, str]]:
    """The modules of ours (in `known`) that `path` imports, relative imports resolved; a
    `from package import name` counts as an import of the submodule `name` when it is one,
    else of the package."""
    here = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = here.split(".")[: len(here.split(".")) - (node.level - 1)] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                if f"{target}.{alias.name}" in known:
                    yield node.lineno, f"{target}.{alias.name}"
                elif target in known:
                    yield node.lineno, target


def import_graph() -> dict[str, list[tuple[int, str]]]:
    """Every module of ours -> the modules of ours it imports (with line numbers)."""
    files = {
        module_name(package, ROOT / folder, path): path
        for package, folder in FOLDER_OF_PACKAGE.items()
        for path in sorted((ROOT / folder).rglob("*.py"))
    }
    known = set(files)
    return {module: list(imports_of(module, path, known)) for module, path in files.items()}


def _control_plane_part(module: str) -> str | None:
    """`instances` for torpor.controlplane.instances.store; `services` for the module."""
    prefix = "torpor.controlplane."
    return module[len(prefix) :].split(".", maxsplit=1)[0] if module.startswith(prefix) else None


def layer_violations(graph: dict[str, list[tuple[int, str]]]) -> list[str]:
    found = []
    for module, imported in graph.items():
        part = _control_plane_part(module)
        if part is None:
            continue
        if part not in LAYER_OF:
            found.append(f"{module}: {part} is in no layer of tests/layering.py")
            continue
        for line, target in imported:
            other = _control_plane_part(target)
            if other is None or other == part or other not in LAYER_OF:
                continue
            if LAYER_OF[other] >= LAYER_OF[part]:
                found.append(f"{module}:{line}: {part} may not import {other} ({target})")
    return found


def cycles(graph: dict[str, list[tuple[int, str]]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    edges = {module: sorted({t for _, t in imported}) for module, imported in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start, children_of_start in edges.items():
        if start in index:
            continue
        work = [(start, iter(children_of_start))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, []))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def violations() -> list[str]:
    found = []
    for package, folder in FOLDER_OF_PACKAGE.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, module in imported_modules(path):
                top = ".".join(module.split(".")[:2])
                if module.startswith("torpor.") and top not in MAY_IMPORT[package]:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {package} imports {module}")
    graph = import_graph()
    found += layer_violations(graph)
    found += [f"import cycle: {' -> '.join(group)}" for group in cycles(graph)]
    return found


def main() -> int:
    found = violations()
    for line in found:
        print(line)
    print(f"layering: {len(found)} violation(s)" if found else "layering: ok")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
