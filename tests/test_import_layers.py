"""No import cycle between the project's packages, nor between its modules: every `import` and `from ... import`
of every module (those inside functions too, which run later but still tie the modules together) is read with
`ast`, without importing anything, and the graph must have no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("settings", "ingest", "expectations", "pipeline", "dags", "sandbox", "bench")


def modules() -> dict[str, Path]:
    """module name -> file. DAG files are top-level modules for Airflow (the DAG folder is on sys.path)."""
    found = {"settings": REPO / "settings.py"}
    for package in ("ingest", "expectations", "pipeline", "sandbox", "bench"):
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in (REPO / "dags").glob("*.py"):
        found[path.stem] = path
    return found


def package_of(module: str) -> str:
    top = module.split(".")[0]
    return top if top in PACKAGES else "dags"


def imports(path: Path, module: str, known: dict[str, Path]) -> set[str]:
    """The project's modules `module` imports (a `from package import name` of a submodule names it)."""
    out = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from package import submodule` imports the submodule; `from module import name`, the module
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(p, m, known) for m, p in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_the_imports_it_must():
    edges = graph()
    assert "settings" in edges["ingest.load"]  # a top-level import
    assert "ingest.finance" in edges["pipeline.tasks"]  # one inside a function
    assert "pipeline.dbt" in edges["transform"]  # a DAG file


def test_no_import_cycle_between_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in graph().items():
        packages.setdefault(package_of(module), set()).update(
            package_of(t) for t in targets if package_of(t) != package_of(module)
        )
    assert cycles(packages) == []
    assert packages["settings"] == set()  # everyone reads it; it reads no one


def test_no_import_cycle_between_modules():
    assert cycles(graph()) == []
