"""The layer order in labelclean/__init__.py holds: no upward import, no import circle (read with ast)."""

from __future__ import annotations

import ast
from pathlib import Path

import labelclean

PACKAGE = Path(labelclean.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """labelclean modules imported anywhere in ``path`` (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n for n in names if n in modules}
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return -1  # labelclean itself (__version__): below everything
    if parts[1] == "__main__":
        return len(labelclean.LAYERS)
    return next(i for i, layer in enumerate(labelclean.LAYERS) if parts[1] in layer)


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_package_has_a_layer():
    top = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    listed = set().union(*labelclean.LAYERS)
    assert top == listed, f"not in labelclean.LAYERS: {top - listed}; listed but absent: {listed - top}"


def test_architecture_md_names_every_package():
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    missing = [p for p in set().union(*labelclean.LAYERS) if f"`{p}`" not in text]
    assert not missing, missing


def test_no_upward_or_sideways_import():
    modules = _modules()
    bad = []
    for name, path in modules.items():
        for target in _imports(path, modules):
            if _package(target) == _package(name) or _layer(target) == -1:
                continue
            if _layer(target) >= _layer(name):
                bad.append(f"{name} -> {target}")
    assert not bad, "imports against the layer order in labelclean/__init__.py:\n" + "\n".join(sorted(bad))


def test_no_import_circle():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    # a package's __init__ is imported whenever one of its modules is: ignore those edges
    graph = {n: {t for t in ts if not n.startswith(t + ".")} for n, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for t in sorted(graph[n]):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state and (cycle := visit(t)):
                return cycle
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (cycle := visit(n)):
            raise AssertionError("import circle: " + " -> ".join(cycle))
