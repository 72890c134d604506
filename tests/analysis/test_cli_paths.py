"""Every `python -m analysis` command takes its run, store, checkpoint and output paths relative
to the working directory, absolute, or starting with `~`, alike (Orbax, underneath, refuses
relative paths: a relative run once failed deep inside a restore)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from analysis.__main__ import COMMAND_MODULES, main
from spectral_jax.synthetic_checkpoints import gpt2_config, neox_config, write_checkpoint
from tests.analysis.importance.importance_planted import write_run_directory

pytestmark = pytest.mark.filterwarnings("ignore:degenerate spectra")
FAST = ["--tokens", "256", "--seq-len", "16", "--n-boot", "20", "--quiet", "--data", "synthetic"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home directory holding one of each source the commands read."""
    root = tmp_path_factory.mktemp("home")
    write_checkpoint(root / "tiny-gpt2", gpt2_config(2, 32, 4, 64, 16))
    for step in (0, 1000):
        write_checkpoint(root / "series" / f"step{step}", neox_config(2, 32, 4, 64, 16), seed=step)
    write_run_directory(root / "trained")
    return root


# Each command's arguments, built from a function that spells a path under `home`.
COMMANDS: dict[str, Callable[[Callable[[str], str], Path, Path], list[str]]] = {
    "report": lambda p, run, _: ["report", p(str(run)), "--out", p("out/report")],
    "scaling": lambda p, _, sweep: ["scaling", *(p(str(s)) for s in sweep), "--out", p("out/s")],
    "pretrained": lambda p, *_: ["pretrained", p("tiny-gpt2"), "--out", p("out/pretrained")],
    "series": lambda p, *_: ["series", p("series"), "--out", p("out/series")],
    "importance": lambda p, *_: ["importance", p("trained"), "--out", p("out/imp"), *FAST],
    "prune": lambda p, *_: ["prune", p("trained"), "--out", p("out/prune"), *FAST],
    "health": lambda p, *_: ["health", p("tiny-gpt2"), "--alpha-ceiling=off", "--out", p("out/h")],
}


def test_every_command_is_covered() -> None:
    registered = {name for module in COMMAND_MODULES for name in module.COMMANDS}
    assert registered == set(COMMANDS), "add the new command's path case to COMMANDS above"


@pytest.mark.parametrize("spelling", ["relative", "tilde"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_paths_relative_and_tilde(
    command: str,
    spelling: str,
    home: Path,
    lifecycle_run: Path,
    scaling_runs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command succeeds from another working directory, and writes where it was told."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("HOME", str(home))

    def spell(name: str) -> str:
        target = home / name
        if spelling == "tilde":
            return "~/" + os.path.relpath(target, home)
        return os.path.relpath(target, elsewhere)

    out = home / "out" / f"{command}-{spelling}"
    args = COMMANDS[command](spell, lifecycle_run, scaling_runs.paths)
    args[args.index("--out") + 1] = spell(os.path.relpath(out, home))
    assert main(args) == 0
    assert out.is_dir() and any(out.iterdir())
    assert not (elsewhere / "~").exists()
