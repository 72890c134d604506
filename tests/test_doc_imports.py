"""Every import written in a Python code block of the README and docs/ works: the names a
reader copies into a notebook exist where the docs say (modules move; the docs must follow)."""

from __future__ import annotations

import ast
import importlib
import re

import pytest

from tests.helpers import REPO

PAGES = [REPO / "README.md", REPO / "AGENTS.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def documented_imports() -> list[tuple[str, str, str | None]]:
    """(page, module, name or None) for every import statement in a python block."""
    found = []
    for page in PAGES:
        for block in BLOCK.findall(page.read_text(encoding="utf-8")):
            lines = [line for line in block.splitlines() if re.match(r"\s*(from|import) ", line)]
            for node in ast.walk(ast.parse("\n".join(l.strip() for l in lines))):
                if isinstance(node, ast.ImportFrom):
                    found += [(page.name, node.module, a.name) for a in node.names]
                elif isinstance(node, ast.Import):
                    found += [(page.name, a.name, None) for a in node.names]
    return found


IMPORTS = documented_imports()


def test_the_docs_have_imports_to_check() -> None:
    assert len(IMPORTS) >= 10


@pytest.mark.parametrize(("page", "module", "name"), IMPORTS)
def test_documented_import_resolves(page: str, module: str, name: str | None) -> None:
    imported = importlib.import_module(module)
    if name is not None and not hasattr(imported, name):
        importlib.import_module(f"{module}.{name}")  # a submodule: `from pkg import module`
