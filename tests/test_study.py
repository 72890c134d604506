"""The study driver (`python -m scripts.study`, `make study`): plans, resumable training,
the results page, and the quick plan end to end (two tiny runs: trained, analysed, every
section of the page written; run again, nothing is trained)."""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scripts.study import noise
from scripts.study.measure import bend
from scripts.study.page import (
    NOT_SUPPORTED,
    SECTIONS,
    SUPPORTED,
    UNTESTABLE,
    build_page,
    importance_verdict,
    pruning_verdict,
)
from scripts.study.plan import PlanError, load_plan
from scripts.study.runner import Trainer, check_config, is_complete, last_step
from tests.helpers import REPO, cli_env


@functools.cache
def shipped_plan(name: str):
    """A shipped plan, resolved once per session (resolving builds every run's config)."""
    return load_plan(name)


def quick(tmp_path: Path, *extra: str):
    return load_plan("quick", [f"runs_dir={tmp_path / 'runs'}", *extra])


def test_full_plan_has_the_sweep_the_seeds_and_the_ablations() -> None:
    plan = shipped_plan("full")
    names = [r.name for r in plan.runs]
    assert names[:5] == [f"adamw/L{d}/s0" for d in (4, 6, 8, 12, 16)]
    for cond in ("adamw", "sgd", "synthetic"):
        assert [r.name for r in plan.group(cond)] == [f"{cond}/L8/s{s}" for s in (0, 1, 2)]
    assert len(names) == len(set(names)) == 13  # the sweep's L8 is AdamW's seed 0
    sgd = plan.run("sgd", 8, 1)
    assert "optim.name=sgd" in sgd.overrides and "run.seed=1" in sgd.overrides
    assert {r.steps for r in plan.runs} == {1000}
    assert {r.tokens_per_step for r in plan.runs} == {8 * 128}
    deep = [r.name for r in plan.selected(plan.pruning)]
    assert deep == ["adamw/L16/s0", "adamw/L12/s0", "adamw/L8/s0", "sgd/L8/s0", "synthetic/L8/s0"]
    assert len(plan.selected(plan.importance)) == 2 + 9
    assert plan.results == REPO / "docs" / "results.md"


@pytest.mark.parametrize("name", ["full", "paper"])
def test_synthetic_runs_never_see_a_token_twice(name: str) -> None:
    """The synthetic condition's corpus is long enough for one pass over its training split."""
    from spectral_jax.documents import VAL_FRACTION
    from train.config import load_config

    plan = shipped_plan(name)
    for run in plan.group("synthetic"):
        config = load_config(plan.base, list(run.overrides))
        assert config.data.corpus == "synthetic"
        train_tokens = config.data.synthetic_tokens * (1 - VAL_FRACTION)
        assert train_tokens >= run.steps * run.tokens_per_step, run.name


def test_paper_plan_uses_the_depth_configs() -> None:
    plan = shipped_plan("paper")
    assert plan.base == REPO / "configs" / "depth" / "L8.yaml"
    assert sorted(r.depth for r in plan.sweep()) == [4, 8, 12, 16, 24, 36]
    assert plan.results != REPO / "docs" / "results.md"  # never overwrites the CPU study's page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["seeds=[0, 0]"], "plan key 'seeds' must hold distinct integers"),
        (["colour=red"], "unknown plan key 'colour'"),
        (["overrides.optim.lr=-1"], "config key 'optim.lr'"),
        (["importance.seeds=some"], "'importance.seeds' must be 'first' or 'all'"),
        (["depths"], "is not key=value"),
        (["base=configs/nowhere.yaml"], "no trainer config"),
    ],
)
def test_bad_plan_input_is_one_line_naming_the_key(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(PlanError) as err:
        quick(tmp_path, *overrides)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_broken_plan_file_is_one_line_naming_the_file_and_the_line(tmp_path: Path) -> None:
    plan = tmp_path / "broken.yaml"
    plan.write_text("name: broken\ndepths: [4, 6\n")
    with pytest.raises(PlanError, match=rf"^{plan} is not valid YAML: .*\(line 3, column 1\)$"):
        load_plan(str(plan))


def test_unknown_plan_lists_the_plans() -> None:
    with pytest.raises(PlanError, match=r"no study plan 'nope'.*plans: full, paper, quick"):
        load_plan("nope")


def fake_finished(run, steps: int | None = None) -> None:
    """A run directory as the trainer leaves a finished run (log, committed checkpoint)."""
    steps = run.steps if steps is None else steps
    run.run_dir.mkdir(parents=True, exist_ok=True)
    rows = [{"step": s, "loss": 5.0 - s / 100} for s in range(5, steps + 1, 5)]
    (run.run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    final = run.run_dir / "checkpoints" / str(steps)
    final.mkdir(parents=True, exist_ok=True)
    (final / "commit_success.txt").write_text("ok")


def test_a_run_is_complete_only_with_its_final_checkpoint_and_log(tmp_path: Path) -> None:
    run = quick(tmp_path).runs[0]
    assert not is_complete(run) and last_step(run.run_dir) == 0
    fake_finished(run, steps=50)
    assert last_step(run.run_dir) == 50 and not is_complete(run)
    fake_finished(run)
    assert is_complete(run)
    (run.run_dir / "checkpoints" / str(run.steps) / "commit_success.txt").unlink()
    assert not is_complete(run)  # an uncommitted (half-written) checkpoint is not the end


class FinishedProcess:
    """Stands in for the `subprocess.Popen` of `python -m train`: already exited 0."""

    returncode = 0

    def poll(self) -> int:
        return 0


def test_training_skips_finished_runs_and_launches_the_rest(tmp_path: Path) -> None:
    import io

    plan = quick(tmp_path)
    first, second = plan.runs
    fake_finished(first)
    commands: list[list[str]] = []

    def launch(command: list[str], **_: object) -> FinishedProcess:
        commands.append(command)
        fake_finished(second)  # what the trainer would leave behind
        return FinishedProcess()

    out = io.StringIO()
    launched = Trainer(plan, out=out, poll=0.0, launch=launch).train_all()
    assert launched == [second.name] and len(commands) == 1
    assert commands[0][:3] == [sys.executable, "-m", "train"]
    assert f"run.dir={second.run_dir}" in commands[0] and "train.progress=false" in commands[0]
    text = out.getvalue()
    assert f"{first.name}: complete, skipped" in text and f"{second.name}: done in" in text
    state = json.loads((plan.runs_dir / "study_state.json").read_text())
    assert set(state) == {second.name} and state[second.name]["steps_timed"] == second.steps
    assert Trainer(plan, out=io.StringIO(), launch=launch).train_all() == []
    assert len(commands) == 1  # both finished: nothing launched


def test_a_run_directory_with_other_settings_is_refused(tmp_path: Path) -> None:
    plan = quick(tmp_path)
    run = plan.runs[0]
    run.run_dir.mkdir(parents=True)
    from train.config import load_config, save_config

    save_config(
        load_config(plan.base, [*run.overrides, "optim.lr=0.5"]), run.run_dir / "config.yaml"
    )
    with pytest.raises(PlanError, match=r"other settings than the plan's \(optim.lr\)"):
        check_config(plan, run)
    save_config(load_config(plan.base, list(run.overrides)), run.run_dir / "config.yaml")
    check_config(plan, run)  # the plan's own settings: accepted


def test_dry_run_names_each_runs_state_and_counts_refused_runs_as_to_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.study.__main__ import dry_run
    from train.config import load_config, save_config

    plan = quick(tmp_path)
    finished, changed = plan.runs
    fake_finished(finished)
    fake_finished(changed)
    save_config(load_config(plan.base, list(finished.overrides)), finished.run_dir / "config.yaml")
    save_config(
        load_config(plan.base, [*changed.overrides, "optim.lr=0.5"]),
        changed.run_dir / "config.yaml",
    )
    assert dry_run(plan) == 0
    lines = capsys.readouterr().out.splitlines()
    assert next(x for x in lines if finished.name in x).endswith("complete")
    assert "other settings" in next(x for x in lines if changed.name in x)
    assert lines[-1] != "estimated training time: 0s"  # the refused run still has to train


def test_bend_tells_a_straight_loss_from_a_bent_one() -> None:
    steps = np.arange(0, 1000, 10)
    straight = [(int(s), 6.0 - 0.002 * s) for s in steps]
    bent = [(int(s), 2.0 + 4.0 * math.exp(-s / 100)) for s in steps]
    assert bend(straight) == pytest.approx(1.0, rel=0.05)
    assert bend(bent) < 0.05
    assert bend(straight[:5]) is None


def test_importance_and_pruning_verdicts_follow_the_cli_decisions() -> None:
    row = {"rho": 0.8, "p_holm": 0.01, "decision": "ρ ≠ 0 (Holm-adjusted p < 0.05)"}
    assert importance_verdict(row) == SUPPORTED
    assert importance_verdict({**row, "rho": -0.8}) == NOT_SUPPORTED
    assert importance_verdict({**row, "p_holm": 0.2}) == NOT_SUPPORTED
    assert importance_verdict({**row, "decision": "refused: with 4 layers"}) == UNTESTABLE
    head = {
        "last_n_over_spectral": 2.0,
        "last_n_over_spectral_verdict": "spectral has the lower "
        "perplexity (the 95% CI of the difference excludes 0)",
    }
    assert pruning_verdict(head) == SUPPORTED
    assert pruning_verdict({**head, "last_n_over_spectral_verdict": "no clear difference"}) == (
        NOT_SUPPORTED
    )
    undefined = {"last_n_over_spectral": None, "last_n_over_spectral_note": "undefined: ..."}
    assert pruning_verdict(undefined) == UNTESTABLE


def test_seed_spread_against_within_run_noise() -> None:
    assert noise.ar1_factor(0.0, 5) == pytest.approx(1.0)
    assert noise.ar1_factor(0.5, 5) > 1.0
    rng = np.random.default_rng(0)
    offsets = rng.normal(0, 0.3, (3, 8))  # seeds differ by fixed per-layer offsets
    summaries = [
        {"alpha_profile": {"alpha": list(3 + o), "window": 4}, "wave": {"onset": [None] * 8}}
        for o in offsets
    ]
    within = [{"alpha": {"sd": [0.05] * 8, "time_corr": 0.0}}] * 3
    spread = noise.seed_spread(summaries, within)
    assert spread["alpha"]["within_se_median"] == pytest.approx(0.025)
    assert spread["alpha"]["ratio"] > 5
    assert 0.1 < spread["alpha"]["offset_sd"] < 0.6
    assert "reason" in noise.seed_spread(summaries[:1], within[:1])


def minimal_data() -> dict:
    plan = {
        "name": "full",
        "runs_dir": "runs/study",
        "depths": [4, 8],
        "middle_depth": 8,
        "seeds": [0],
        "conditions": [{"name": "adamw", "label": "AdamW", "overrides": {}}],
    }
    return {"plan": plan, "runs": [], "groups": {}, "sweep": {}, "errors": ["x: failed"]}


def test_every_section_is_written_even_when_nothing_was_computed() -> None:
    page = build_page(minimal_data(), {}, "results", {"date": "d", "commit": "c", "seconds": 1})
    for section in SECTIONS:
        assert f"## {section}\n" in page
    assert "- x: failed" in page
    assert "not the full study" not in page  # the full plan's page carries no quick warning


def test_quick_study_end_to_end_then_nothing_is_trained_again(tmp_path: Path) -> None:
    """`make study STUDY=quick` in a scratch directory: two runs trained, analysed, the page and
    its figures written; the second time no trainer starts."""
    runs = tmp_path / "runs"
    args = [sys.executable, "-m", "scripts.study", "--plan", "quick", f"runs_dir={runs}"]
    first = subprocess.run(
        args, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=600
    )
    assert first.returncode == 0, first.stderr[-2000:]
    assert "[1/2] adamw/L5/s0: training" in first.stdout
    assert "[analysis" in first.stdout and "left" in first.stdout
    page = (runs / "results.md").read_text()
    for section in SECTIONS:
        assert f"## {section}\n" in page, section
    assert "None: every analysis ran." in page
    assert "not the full study" in page
    study = json.loads((runs / "analysis" / "study.json").read_text())
    assert set(study["groups"]) == {"adamw"} and len(study["groups"]["adamw"]["per_seed"]) == 2
    assert set(study["importance"]) == {"adamw/L5/s0", "adamw/L5/s1"}
    assert set(study["pruning"]) == {"adamw/L5/s0"}
    assert study["noise"]["runs"]["adamw/L5/s0"]["alpha"]["sd_median"] > 0
    assert all(r["final_loss"] < r["loss_curve"][0][1] for r in study["runs"])  # they learned
    for figure in ("loss.png", "profiles.png", "onsets.png", "pruning.png", "noise.png"):
        assert (runs / "results" / figure).stat().st_size > 1000, figure
        assert f"(results/{figure})" in page
    logs = {p: p.stat().st_mtime_ns for p in runs.glob("adamw/L5/s*/metrics.jsonl")}
    again = subprocess.run(
        [*args, "--stage", "train"], cwd=REPO, env=cli_env(), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("complete, skipped") == 2 and "training (" not in again.stdout
    assert {p: p.stat().st_mtime_ns for p in logs} == logs
