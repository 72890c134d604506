"""The planted bugs of `scripts/mutation_check.py` stay current: every snippet still occurs once
in its file and every test meant to catch it exists. (Running the mutations is a manual check:
`.venv/bin/python scripts/mutation_check.py`.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers import REPO


def load_script() -> ModuleType:
    path = REPO / "scripts" / "mutation_check.py"
    spec = importlib.util.spec_from_file_location("mutation_check", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their class's module up
    spec.loader.exec_module(module)
    return module


SCRIPT = load_script()


@pytest.mark.parametrize("mutation", SCRIPT.MUTATIONS, ids=lambda m: m.name)
def test_snippet_occurs_once_and_its_tests_exist(mutation) -> None:
    text = (REPO / mutation.path).read_text()
    assert text.count(mutation.original) == 1, (
        f"{mutation.name}: the snippet no longer occurs exactly once in {mutation.path}; "
        "update it (or the mutation) in scripts/mutation_check.py along with the code"
    )
    assert mutation.mutated != mutation.original
    assert mutation.tests
    for test in mutation.tests:
        file, _, name = test.partition("::")
        assert (REPO / file).is_file(), test
        if name:  # a test function, perhaps with a parameter id: test_x[id]
            assert f"def {name.split('[')[0]}(" in (REPO / file).read_text(), test


def test_names_are_unique_and_cover_every_invariant_of_issue_17() -> None:
    names = [m.name for m in SCRIPT.MUTATIONS]
    assert len(set(names)) == len(names)
    families = {m.invariant.split(":")[0] for m in SCRIPT.MUTATIONS}
    expected = {
        "exact resume",
        "no spectra gap",
        "probe schedule",
        "matrix naming",
        "metric definitions",
        "data sharding",
        "analysis",
    }
    assert expected <= families


def test_plant_patches_one_file_and_refuses_a_stale_snippet(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    source = tmp_path / "pkg" / "mod.py"
    source.write_text("x = a + b\ny = a + b + c\n")
    good = SCRIPT.Mutation("m", "inv", "pkg/mod.py", "y = a + b + c", "y = a - b + c", ("t",))
    original = SCRIPT.plant(tmp_path, good)
    assert source.read_text() == "x = a + b\ny = a - b + c\n"
    assert original == "x = a + b\ny = a + b + c\n"
    source.write_text(original)
    twice = SCRIPT.Mutation("m", "inv", "pkg/mod.py", "a + b", "a", ("t",))
    with pytest.raises(ValueError, match="occurs 2 times"):
        SCRIPT.plant(tmp_path, twice)
    assert source.read_text() == original  # refused: nothing written
    assert SCRIPT.verdict(1) == "caught" and SCRIPT.verdict(0) == "MISSED"
    assert SCRIPT.verdict(None) == "TIMEOUT" and SCRIPT.verdict(4).startswith("ERROR")
