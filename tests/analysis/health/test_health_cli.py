"""`python -m analysis health` on planted sources: a simulated run whose α is pushed below the
floor for one matrix, a GPT-2-layout checkpoint and a GPT-NeoX series with a NaN planted in one
matrix; exit 0 when clean, 1 when flagged, 2 for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from analysis.__main__ import main
from analysis.calibration import simulate
from analysis.health import cli as health_cli
from analysis.health.figures import timeline_figure
from analysis.health.sources import judge
from spectral_jax.health import HealthConfig
from spectral_jax.synthetic_checkpoints import gpt2_config, neox_config, write_checkpoint

pytestmark = pytest.mark.filterwarnings("ignore:degenerate spectra")
STEPS = np.arange(0, 2001, 50)
N_LAYERS = 6
KINDS = ("k", "o", "q", "v")
LOW = (STEPS >= 1000) & (STEPS <= 1500)  # α of layer 3 v planted at 1.1 (floor 1.2)


def planted_run(directory: Path, *, untrusted: bool = False) -> Path:
    """A simulated lifecycle (healthy: α 3–5, stable rank ≥ 40% of its start), α of layer 3 v
    at 1.1 over steps 1000–1500; `untrusted`: those fits fail the KS gate."""
    rng = np.random.default_rng(0)
    compression = simulate.wave_compression(STEPS, N_LAYERS, simulate.Wave())
    profile = simulate.profile_alpha(STEPS, N_LAYERS, simulate.Profile())
    stable = {k: simulate.stable_rank(rng, 1, compression)[0] for k in KINDS}
    alpha = {k: simulate.noisy_alpha(rng, 1, profile)[0] for k in KINDS}
    alpha["v"][LOW, 3] = 1.1
    tidy = simulate.frame(STEPS, stable, alpha)
    planted = (tidy.kind == "v") & (tidy.layer == 3) & tidy.step.isin(STEPS[LOW])
    if untrusted:
        tidy.loc[planted, "alpha_ks"] = 0.5  # > 1.36 / √50
    return simulate.write_run(tidy, directory, n_layers=N_LAYERS)


def poison(checkpoint: Path, name: str, column: int) -> None:
    """Put a NaN into one tensor of a safetensors checkpoint."""
    tensors = load_file(checkpoint / "model.safetensors")
    tensors[name][0, column] = np.nan
    save_file(tensors, checkpoint / "model.safetensors")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("health")
    planted_run(root / "low_alpha")
    planted_run(root / "untrusted", untrusted=True)
    gpt2 = gpt2_config(2, 32, 4, 64, 16)
    write_checkpoint(root / "gpt2", gpt2)
    write_checkpoint(root / "gpt2_nan", gpt2)
    poison(root / "gpt2_nan", "transformer.h.1.attn.c_attn.weight", 2 * 32 + 5)  # v of layer 1
    for series, bad_step in (("series_end", 2000), ("series_mid", 1000)):
        for step in (0, 1000, 2000):
            path = root / series / f"step{step}"
            write_checkpoint(path, neox_config(2, 32, 4, 64, 16), seed=step)
            if step == bad_step:  # query_key_value rows: [heads, 3, head_dim]; row 0 is q
                poison(path, "gpt_neox.layers.0.attention.query_key_value.weight", 3)
    return root


def test_alpha_below_the_floor_fires_for_that_matrix_and_clears(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["health", str(sources / "low_alpha"), "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "step     1,050  fired    layer 3 v: α 1.10 < floor 1.2 since step 1,000" in out
    assert "step     1,550  cleared  layer 3 v: alpha_low cleared at step 1,550" in out
    summary = json.loads((tmp_path / "health.json").read_text())
    assert summary["kind"] == "run" and summary["flagged"] is True
    assert [
        (e["step"], e["rule"], e["state"], e["layer"], e["kind"]) for e in summary["events"]
    ] == [
        (1050, "alpha_low", "start", 3, "v"),
        (1550, "alpha_low", "clear", 3, "v"),
    ]
    assert summary["intervals"] == [
        {
            "rule": "alpha_low",
            "layer": 3,
            "kind": "v",
            "since": 1000,
            "fired": 1050,
            "cleared": 1550,
        }
    ]
    assert summary["flagged_at_end"] == [] and summary["snapshots"] == len(STEPS)
    assert (tmp_path / "health.png").read_bytes()[:4] == b"\x89PNG"


def test_untrusted_fits_and_a_lower_floor_do_not_fire(
    sources: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["health", str(sources / "untrusted")]) == 0
    assert capsys.readouterr().out.strip().endswith("clean: no rule fired")
    assert main(["health", str(sources / "low_alpha"), "--alpha-floor", "1.05"]) == 0
    assert main(["health", str(sources / "low_alpha"), "--alpha-floor", "off"]) == 0
    # K = 3: the planted stretch (11 snapshots) still fires, one snapshot later.
    timeline = judge(str(sources / "low_alpha"), overrides={"persistence": 3}).timeline
    assert [(e.step, e.state) for e in timeline.events] == [(1100, "start"), (1550, "clear")]


def test_run_thresholds_come_from_its_config(sources: Path, tmp_path: Path) -> None:
    run = planted_run(tmp_path / "run")
    config = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(config + "spectral:\n  health:\n    alpha_floor: 1.05\n")
    judged = judge(str(run))
    assert judged.timeline.config.alpha_floor == 1.05 and not judged.flagged


def test_checkpoint_nan_matrix_is_named_in_the_table(
    sources: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["health", str(sources / "gpt2_nan"), "--method", "svd"]) == 1
    out = capsys.readouterr().out
    assert "not judged: rank_collapse (one snapshot: nothing earlier to compare with)" in out
    table = out[out.index("at step 0:") :].splitlines()[1:4]
    assert table[0].split() == ["layer", "k", "mlp_in", "mlp_out", "o", "q", "v"]
    assert table[1].split() == ["0", "ok", "ok", "ok", "ok", "ok", "ok"]
    assert table[2].split() == ["1", "ok", "ok", "ok", "ok", "ok", "non_finite"]
    assert "layer 1 v: non-finite values (NaN/Inf) since step 0" in out
    assert out.strip().endswith("flagged: 1 rule(s) in force at the last snapshot (non_finite 1)")


def test_clean_checkpoint_exits_0(sources: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["health", str(sources / "gpt2"), "--alpha-ceiling", "off"]) == 0
    assert "clean: nothing flagged at the last snapshot" in capsys.readouterr().out


def test_series_is_judged_at_its_last_checkpoint(
    sources: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["--alpha-ceiling", "off", "--method", "svd"]
    assert main(["health", str(sources / "series_end"), *args]) == 1
    out = capsys.readouterr().out
    assert "series, 3 snapshot(s) (steps 0–2,000)" in out
    assert "layer 0 q: non-finite values (NaN/Inf) since step 2,000" in out
    # A NaN at step 1000 only: fired and cleared, nothing in force at the last checkpoint.
    judged = judge(str(sources / "series_mid"), overrides={"alpha_ceiling": None})
    assert [(e.step, e.rule, e.state, e.layer, e.kind) for e in judged.timeline.events] == [
        (1000, "non_finite", "start", 0, "q"),
        (2000, "non_finite", "clear", 0, "q"),
    ]
    assert not judged.flagged


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "no run, spectra store or checkpoint at /"),
        (["low_alpha", "--alpha-floor", "0.5"], "spectral.health.alpha_floor: Input should"),
        (["low_alpha", "--persistence", "two"], "--persistence: 'two' is not a number"),
        (["low_alpha", "--alpha-floor", "7"], "spectral.health.alpha_floor (7.0) must be"),
        (["empty"], "holds no checkpoint subdirectories"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    sources: Path, args: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    (sources / "empty").mkdir(exist_ok=True)
    source = str(sources / args[0])
    assert main(["health", source, *args[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_cli_thresholds_are_the_config_keys() -> None:
    fields = set(HealthConfig.model_fields) - {"stop_on"}
    assert set(health_cli.THRESHOLDS) == fields


def test_timeline_figure_lists_the_flagged_matrix(sources: Path) -> None:
    timeline = judge(str(sources / "low_alpha")).timeline
    fig = timeline_figure(timeline)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["layer 3 v"]
    clean = timeline_figure(judge(str(sources / "untrusted")).timeline)
    assert "no rule fired over 41 snapshots" in clean.axes[0].texts[0].get_text()
