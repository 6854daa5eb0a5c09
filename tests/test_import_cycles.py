"""No import cycle in the product: neither between top-level packages nor between modules.

Every import counts, wherever it is written (module top, inside a function, under
`if TYPE_CHECKING:`): a lazy import is still a dependency, and a cycle hidden in a function
body is the same knot in the design. Read with `ast`, so nothing is imported or run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCT_PACKAGES = (
    "storage", "ingest", "detect", "index", "evidence", "search_api", "models", "sample_streams",
    "skynet",
)  # fmt: skip

Graph = dict[str, set[str]]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_modules() -> dict[str, Path]:
    """Every product module by dotted name (packages by their `__init__`)."""
    modules = {}
    for package in PRODUCT_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            modules[module_name(path)] = path
    return modules


def imported_names(tree: ast.Module, name: str, is_package: bool) -> Iterable[str]:
    """Dotted names `tree` imports: `from a.b import c` yields both `a.b` and `a.b.c`."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def module_graph() -> Graph:
    """Module → the product modules it imports (a name that is not a module counts as its
    module: `from a.b import f` → `a.b`)."""
    modules = product_modules()
    graph: Graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = {
            target
            for target in imported_names(tree, name, path.name == "__init__.py")
            if target in modules and target != name
        }
        graph[name] = targets
    return graph


def package_graph(modules: Graph) -> Graph:
    """Top-level package → the other top-level packages its modules import."""
    graph: Graph = {package: set() for package in PRODUCT_PACKAGES}
    for name, targets in modules.items():
        top = name.split(".")[0]
        graph[top].update(t.split(".")[0] for t in targets if t.split(".")[0] != top)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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
    return sorted(found)


def explain(graph: Graph, component: list[str]) -> str:
    members = set(component)
    edges = [f"{a} → {b}" for a in component for b in sorted(graph[a] & members)]
    return "; ".join(edges)


def test_the_walk_sees_the_product() -> None:
    """The walker itself: it finds the packages, lazy imports and relative imports."""
    graph = module_graph()
    assert {"detect.worker", "models.build", "skynet.runtime"} <= set(graph)
    assert "ingest.frame" in graph["detect.worker"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse("from . import x\nfrom ..y import z\ndef f():\n    import q.r\n")
    assert set(imported_names(tree, "p.s.m", is_package=False)) == {
        "p.s", "p.s.x", "p.y", "p.y.z", "q.r",
    }  # fmt: skip


def test_no_cycle_between_top_level_packages() -> None:
    graph = package_graph(module_graph())
    found = cycles(graph)
    assert not found, "package import cycles: " + " | ".join(explain(graph, c) for c in found)


def test_no_cycle_between_modules() -> None:
    graph = module_graph()
    found = cycles(graph)
    assert not found, "module import cycles: " + " | ".join(explain(graph, c) for c in found)
