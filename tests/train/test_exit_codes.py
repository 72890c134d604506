"""Every exit code docs/training.md lists for `python -m train`, with the one line each handled
case prints. (Resume cases — corrupt checkpoints, a changed config, a busy or unwritable run
directory, SIGTERM — are in tests/train/test_resume.py; a bad key in tests/train/test_config.py.)
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers import read_metrics, run_cli


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_0_a_finished_run_started_again_says_so_at_once(tmp_path: Path, tiny: list[str]) -> None:
    args = [*tiny, "train.steps=3", "spectral.every=0", f"run.dir={tmp_path}"]
    assert run_cli(args).returncode == 0
    rows = read_metrics(tmp_path)
    again = run_cli(args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == (
        f"already complete: {tmp_path} has a checkpoint at step 3 (train.steps=3), nothing to "
        "train. To train further, run again with train.steps=6 run.allow_config_change=true (a "
        "longer run also stretches the learning-rate schedule)"
    )
    assert "memory:" not in again.stderr  # it stopped before building the model
    assert read_metrics(tmp_path) == rows
    fewer = run_cli([*args[:-2], "train.steps=2", "run.allow_config_change=true", args[-1]])
    assert fewer.returncode == 0 and "checkpoint at step 3 (train.steps=2)" in fewer.stdout
    assert read_metrics(tmp_path) == rows  # nothing rewound either


def test_1_a_non_finite_loss_stops_the_run_naming_the_step(tmp_path: Path, tiny: list[str]) -> None:
    proc = run_cli(
        [
            *tiny,
            "optim.lr=1e30",
            "optim.grad_clip=null",
            "optim.warmup_steps=0",
            "train.steps=10",
            "spectral.every=0",
            f"run.dir={tmp_path}",
        ]
    )
    assert proc.returncode == 1
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert len(errors) == 1 and " is nan at step " in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_2_a_data_path_that_matches_nothing_stops_before_anything_is_written(
    tmp_path: Path, tiny: list[str]
) -> None:
    run_dir = tmp_path / "run"
    base = [*tiny, f"run.dir={run_dir}"]
    text = run_cli([*base, "data.corpus=text", f"data.path={tmp_path / 'nope' / '*.txt'}"])
    assert text.returncode == 2
    assert one_error_line(text.stderr) == (
        f"error: data.path {tmp_path / 'nope' / '*.txt'} matches no files"
    )
    tokens = run_cli([*base, "data.corpus=tokens", f"data.path={tmp_path / 'train.bin'}"])
    assert tokens.returncode == 2
    assert one_error_line(tokens.stderr).startswith(
        f"error: data.path: token file {tmp_path / 'train.bin'} not found"
    )
    assert not run_dir.exists()


def test_2_a_data_path_the_default_corpus_would_ignore(tmp_path: Path, tiny: list[str]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my own text\n")
    proc = run_cli(
        [*tiny, "data.corpus=shakespeare", f"data.path={notes}", f"run.dir={tmp_path / 'run'}"]
    )
    assert proc.returncode == 2
    line = one_error_line(proc.stderr)
    assert line.startswith("config error: data.path is set but data.corpus=shakespeare")
    assert not (tmp_path / "run").exists()


def test_2_a_spectra_store_of_another_run(tmp_path: Path, tiny: list[str]) -> None:
    args = [*tiny, "spectral.every=1", f"run.dir={tmp_path}"]
    assert run_cli([*args, "train.steps=2", "spectral.kinds=[q]"]).returncode == 0
    rows = read_metrics(tmp_path)
    proc = run_cli([*args, "train.steps=4", "spectral.kinds=[k]", "run.allow_config_change=true"])
    assert proc.returncode == 2
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert errors == [
        f"error: {tmp_path / 'spectra'} holds spectra with a different 'kinds'; use another run.dir"
    ], proc.stderr
    assert "Traceback" not in proc.stderr
    assert read_metrics(tmp_path) == rows  # refused before the rewind: nothing deleted
