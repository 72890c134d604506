"""The docs match the code and the README reaches every doc page.

The configuration reference (`docs/configuration.md`) has table rows `| `dotted.key` | type | `default` | meaning |`.
Defaults are compared as strings after one normalisation applied to both sides: the value is
dumped as flow-style YAML (`yaml.safe_dump`), so None is `null`, booleans are `true`/`false`
and floats use YAML's spelling. The documented cell is YAML-loaded first, so `1.0e-8` and `1.0e-08`
document the same default. For `Literal` fields the backticked values in the type cell must be
exactly the allowed values.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from train.config import Config, _all_keys

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
CONFIG_REFERENCE = REPO / "docs" / "configuration.md"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
ROW = re.compile(r"^\|\s*`([a-z_]+(?:\.[a-z_0-9]+)+)`\s*\|")
CELL_SPLIT = re.compile(r"(?<!\\)\|")
CODE = re.compile(r"`([^`]*)`")


def config_reference_rows() -> dict[str, tuple[str, str]]:
    """`{dotted key: (type cell, default cell)}` from the configuration reference's tables."""
    rows: dict[str, tuple[str, str]] = {}
    for line in CONFIG_REFERENCE.read_text(encoding="utf-8").splitlines():
        found = ROW.match(line)
        if not found:
            continue
        cells = [c.strip() for c in CELL_SPLIT.split(line.strip())[1:-1]]
        assert len(cells) == 4, f"config reference row for {found.group(1)} needs 4 cells: {line}"
        key = found.group(1)
        assert key not in rows, f"the config reference documents {key} twice"
        rows[key] = (cells[1], cells[2])
    return rows


def field_of(dotted: str) -> tuple[Any, Any]:
    """(annotation, default) of a dotted Config key."""
    model: type[BaseModel] = Config
    *sections, name = dotted.split(".")
    for section in sections:
        model = model.model_fields[section].annotation  # type: ignore[assignment]
    field = model.model_fields[name]
    return field.annotation, field.default


def normalise(value: Any) -> str:
    """Flow-style YAML of a value: `null`, `true`, `0.003`, `runs/default`, `[q, k]`."""
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


ROWS = config_reference_rows()
KEYS = _all_keys(Config)


def test_documented_keys_are_exactly_the_config_keys() -> None:
    documented, actual = set(ROWS), set(KEYS)
    assert not documented - actual, (
        f"the config reference documents unknown keys: {documented - actual}"
    )
    assert not actual - documented, f"the config reference lacks config keys: {actual - documented}"


@pytest.mark.parametrize("key", KEYS)
def test_documented_default_matches(key: str) -> None:
    assert key in ROWS, f"the config reference lacks {key}"
    _, cell = ROWS[key]
    code = CODE.fullmatch(cell)
    assert code, f"documented default of {key} must be one `code` span, got {cell!r}"
    _, default = field_of(key)
    assert normalise(yaml.safe_load(code.group(1))) == normalise(default), key


@pytest.mark.parametrize("key", KEYS)
def test_documented_choices_match(key: str) -> None:
    annotation, _ = field_of(key)
    if typing.get_origin(annotation) is not typing.Literal:
        return
    assert key in ROWS, f"the config reference lacks {key}"
    documented = set(CODE.findall(ROWS[key][0]))
    assert documented == {str(v) for v in typing.get_args(annotation)}, key


def test_readme_is_short_and_links_every_doc_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200, "README.md should stay under 200 lines (details: docs/)"
    linked = {target for target in LINK.findall(text) if not target.startswith("http")}
    pages = {f"docs/{page.name}" for page in (REPO / "docs").glob("*.md")}
    assert pages, "docs/ has no pages"
    assert not pages - linked, f"README.md does not link {sorted(pages - linked)}"


@pytest.mark.parametrize(
    "page", [*sorted((REPO / "docs").glob("*.md")), README], ids=lambda p: p.name
)
def test_relative_links_resolve(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if not target.startswith(("http://", "https://", "mailto:")):
            assert (page.parent / target).exists(), f"{page.name} links missing {target}"
