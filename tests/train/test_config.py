"""Config loading: defaults, overrides, and errors that name the key (CLI exits 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from train.config import Config, ConfigError, diff_configs, load_config

REPO = Path(__file__).resolve().parents[2]


def test_overrides_are_typed() -> None:
    cfg = load_config(
        REPO / "configs/demo.yaml",
        ["optim.lr=1e-4", "model.n_layers=2", "spectral.kinds=[q, v]", "optim.grad_clip=null"],
    )
    assert cfg.optim.lr == pytest.approx(1e-4)
    assert cfg.model.n_layers == 2
    assert cfg.spectral.kinds == ["q", "v"]
    assert cfg.optim.grad_clip is None


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("optim.lrr=1", "unknown config key 'optim.lrr' (closest valid key: 'optim.lr')"),
        ("trian.steps=3", "closest valid key: 'train.steps'"),
        ("model.n_layers=abc", "config key 'model.n_layers'"),
        ("train.batch_size=-1", "config key 'train.batch_size'"),
        ("optim.name=lion", "config key 'optim.name'"),
        ("spectral.kinds=[qq]", "unknown kind 'qq' (did you mean 'q'?)"),
        ("spectral.kinds=[q,mlp_gate]", "this model has no 'mlp_gate' matrices"),
        ("spectral.kinds=[unembed]", "this model has no 'unembed' matrices"),
        ("train.seq_len=4096", "train.seq_len (4096) exceeds model.max_seq_len"),
        ("model.n_heads=3", "must be divisible by model.n_heads"),
        ("train.grad_accum=3", "must be divisible by train.grad_accum"),
        ("noequals", "not of the form key=value"),
    ],
)
def test_bad_config_names_the_key(override: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(REPO / "configs/demo.yaml", [override])
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


SIZE_KEYS = [f"model.{name}" for name in ("n_layers", "d_model", "n_heads", "d_ff", "vocab_size")]


@pytest.mark.parametrize("key", [*SIZE_KEYS, "model.max_seq_len", "train.steps", "train.seq_len"])
@pytest.mark.parametrize("value", [0, -2])
def test_non_positive_sizes_name_the_key(key: str, value: int) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"{key}={value}"])
    assert f"config key '{key}'" in str(info.value)


def _numeric_keys(section: type, prefix: str = "") -> list[str]:
    keys = []
    for name, field in section.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys.extend(_numeric_keys(field.annotation, f"{prefix}{name}."))
        elif field.annotation in (int, float):
            keys.append(f"{prefix}{name}")
    return keys


@pytest.mark.parametrize("key", _numeric_keys(Config))
@pytest.mark.parametrize("value", [0, -1])
def test_any_number_is_accepted_or_a_config_error(key: str, value: int) -> None:
    """No numeric value reaches code that crashes on it (e.g. a division by n_heads=0)."""
    try:
        load_config(None, [f"{key}={value}"])
    except ConfigError as err:
        assert "\n" not in str(err)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_diff_configs_lists_dotted_keys() -> None:
    a = load_config(None).to_dict()
    b = load_config(None, ["optim.lr=1", "train.steps=7"]).to_dict()
    assert diff_configs(a, b) == ["optim.lr", "train.steps"]


def test_cli_exits_2_before_any_work(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "--config",
            str(REPO / "configs/demo.yaml"),
            f"run.dir={run_dir}",
            "optim.lrr=3",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown config key 'optim.lrr' (closest valid key: 'optim.lr')" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not run_dir.exists()
