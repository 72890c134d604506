"""The architecture the docs promise, checked on the code itself:

- no import cycle among the modules of `spectral_jax`, `train` and `analysis` (every import
  statement counts, those inside functions too; `if TYPE_CHECKING:` blocks do not);
- the dependency direction: `spectral_jax` imports neither `train` nor `analysis`, and
  `analysis` never imports `train` (a notebook loads a run without the trainer);
- every package has an explicit `__all__`;
- every module is named in `docs/architecture.md` (its path, e.g. `analysis/lifecycle/wave.py`);
- analysis results and other dataclasses with more than three fields are keyword-only.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pkgutil
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGES = ("spectral_jax", "train", "analysis")
ARCHITECTURE = REPO / "docs" / "architecture.md"


def modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of the three packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports: `from a.b import c` is module `a.b.c` when that is a
    module, else `a.b`; relative imports are resolved against the package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [("spectral_jax", ("train", "analysis")), ("analysis", ("train",))],
)
def test_dependency_direction(importer: str, forbidden: tuple[str, ...]) -> None:
    graph = import_graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module.split(".")[0] == importer
        for target in targets
        if target.split(".")[0] in forbidden
    )
    assert not wrong, wrong


def test_every_package_declares_all() -> None:
    missing = [
        name
        for name, path in modules().items()
        if path.name == "__init__.py" and "__all__" not in path.read_text(encoding="utf-8")
    ]
    assert not missing, f"packages without an explicit __all__: {missing}"


def test_every_module_is_named_in_the_architecture_page() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(REPO))
        for path in modules().values()
        if path.name != "__init__.py" and str(path.relative_to(REPO)) not in text
    ]
    assert not missing, f"docs/architecture.md does not name: {missing}"


def test_dataclasses_with_more_than_three_fields_are_keyword_only() -> None:
    positional = []
    for name in modules():
        if not name.startswith("analysis") or name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
                continue
            if obj.__module__ != name:
                continue
            fields = [f for f in dataclasses.fields(obj) if f.init]
            if len(fields) > 3 and not all(f.kw_only for f in fields):
                positional.append(f"{name}.{attr} ({len(fields)} fields)")
    assert not positional, f"positional constructors: {positional}"


def test_pkgutil_sees_the_same_modules() -> None:
    """The file walk above misses nothing Python itself would import."""
    for package in PACKAGES:
        root = importlib.import_module(package)
        walked = {m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")}
        assert walked <= set(modules()), walked - set(modules())


def test_exported_names_are_not_shadowed_by_submodules() -> None:
    """After every submodule is imported (Python then binds each as an attribute of its package),
    each name in a package's `__all__` is still the object it exports, never a module: a module
    named like the function it defines once made `from analysis import layer_importance` return
    the module."""
    for name in modules():
        importlib.import_module(name)
    shadowed = []
    for name, path in modules().items():
        if path.name != "__init__.py":
            continue
        package = importlib.import_module(name)
        for exported in getattr(package, "__all__", []):
            if isinstance(getattr(package, exported), type(importlib)):
                shadowed.append(f"{name}.{exported}")
    assert not shadowed, f"exports that resolve to a module: {shadowed}"
