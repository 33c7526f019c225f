"""The package's import graph, read from the source with `ast` (imports inside functions and the lazy-export tables
of package `__init__` files count too): for the architecture test and for measuring the layout.

    python -m tests.import_graph            # modules, edges, lines per subpackage, the deepest import chain
"""

from __future__ import annotations

import ast
from collections import Counter
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"babelclip.modeling": "modeling", "babelclip.trainers": "trainers", "babelclip.model_cards": "model_cards"}


def module_files() -> dict[str, Path]:
    """`babelclip.x.y` -> its source file, for every module of the three installed folders."""
    files = {}
    for package, folder in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if "__pycache__" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join([package, *parts])] = path
    return files


def _is_package(module: str, files: dict[str, Path]) -> bool:
    return files[module].name == "__init__.py"


def _resolve(module: str, level: int, target: str | None, files: dict[str, Path]) -> str:
    """The absolute name a (relative) import in `module` refers to."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not _is_package(module, files):
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _known(name: str, files: dict[str, Path]) -> str | None:
    """`name` itself if it is a babelclip module, else its longest prefix that is; None outside babelclip."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in files:
            return candidate
        parts.pop()
    return None


def _lazy_export_modules(tree: ast.Module) -> list[str]:
    """The relative module names of a `_MODULES = {".trainer": (...), ...}` lazy-export table."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_MODULES" for t in node.targets):
            return [key.value for key in node.value.keys if isinstance(key, ast.Constant)]
    return []


@cache
def import_graph() -> dict[str, set[str]]:
    """Module -> the babelclip modules it imports (anywhere in the file)."""
    files = module_files()
    graph: dict[str, set[str]] = {module: set() for module in files}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, node.level, node.module, files)
                # `from .x import y` imports the module `x.y` when there is one, else the module `x`.
                targets += [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
        for relative in _lazy_export_modules(tree):
            level = len(relative) - len(relative.lstrip("."))
            targets.append(_resolve(module, level, relative.lstrip(".") or None, files))
        for target in targets:
            known = _known(target, files)
            if known is not None and known != module:
                graph[module].add(known)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), i.e. the import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for neighbour in sorted(graph[node]):
            if neighbour not in index:
                visit(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in on_stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def deepest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest import chain a -> b -> ... (the graph must have no circle)."""

    @cache
    def longest_from(node: str) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for neighbour in graph[node]:
            chain = longest_from(neighbour)
            if len(chain) > len(best):
                best = chain
        return (node, *best)

    return list(max((longest_from(node) for node in graph), key=len))


def subpackage(module: str) -> str:
    """`babelclip.modeling` and `babelclip.model_cards` as a whole; `babelclip.trainers.<part>` for the rest."""
    parts = module.split(".")
    return ".".join(parts[:3]) if parts[1] == "trainers" and len(parts) > 2 else ".".join(parts[:2])


def lines_per_subpackage() -> Counter:
    """Source lines per subpackage (see [`subpackage`])."""
    counts: Counter = Counter()
    for module, path in module_files().items():
        counts[subpackage(module)] += len(path.read_text(encoding="utf-8").splitlines())
    return counts


if __name__ == "__main__":
    graph = import_graph()
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} import edges, circles: {cycles(graph)}")
    chain = deepest_chain(graph) if not cycles(graph) else []
    print(f"deepest import chain ({len(chain)} modules): {' -> '.join(chain)}")
    for package, lines in sorted(lines_per_subpackage().items()):
        print(f"{lines:6d}  {package}")
