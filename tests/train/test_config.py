"""Config loading: defaults, overrides, and errors that name the key (CLI exits 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from train.config import Config, ConfigError, diff_configs, load_config, read_yaml_mapping

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


def _int_keys(section: type, prefix: str = "") -> list[str]:
    keys = []
    for name, field in section.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys.extend(_int_keys(field.annotation, f"{prefix}{name}."))
        elif field.annotation is int:
            keys.append(f"{prefix}{name}")
    return keys


# Integer keys for which 0 means something (documented in docs/configuration.md); every other
# integer key is a size or a count, which must be positive. A new integer key lands in the
# size-like test below unless it is listed here with its meaning.
ZERO_MEANS = {
    "run.seed": "a seed like any other",
    "optim.warmup_steps": "no warmup",
    "train.eval_every": "no validation",
    "train.checkpoint_every": "only the final checkpoint",
    "spectral.every": "no probe",
    "spectral.health.warmup": "no warm-up",
}
NEGATIVE_MEANS = {"run.seed": "a seed", "mesh.data": "-1: the rest", "mesh.fsdp": "-1: the rest"}
SIZE_LIKE = [k for k in _int_keys(Config) if k not in ZERO_MEANS]


def test_the_size_like_keys_are_the_expected_ones() -> None:
    """The list is computed, so a new integer field is covered without editing the test."""
    assert {"train.log_every", "train.steps", "data.synthetic_tokens", "model.n_layers"} <= set(
        SIZE_LIKE
    )
    assert set(ZERO_MEANS) <= set(_int_keys(Config))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (key, value)
        for key in SIZE_LIKE
        for value in (0, -1, -3)
        if not (value == -1 and key in NEGATIVE_MEANS)  # -1 means something there
    ],
)
def test_every_size_like_key_must_be_positive(key: str, value: int) -> None:
    """0 or a negative count (e.g. train.log_every=0, which the loop divides by) is a config
    error naming the key, not a crash or a silent misbehaviour later."""
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"{key}={value}"])
    assert key in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("key", [k for k in ZERO_MEANS if k not in NEGATIVE_MEANS])
def test_keys_where_zero_means_something_accept_zero_and_refuse_negatives(key: str) -> None:
    load_config(None, [f"{key}=0"])
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [f"{key}=-1"])


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["data.path=notes.txt"], "data.path is set but data.corpus=shakespeare does not read it"),
        (["data.corpus=synthetic", "data.path=x.bin"], "data.path is set but data.corpus=synth"),
        (["data.corpus=text", "data.path=d", "data.val_path=v"], "data.val_path is read only by"),
        (["data.corpus=text"], "data.corpus=text needs data.path"),
        (["data.corpus=tokens"], "data.corpus=tokens needs data.path"),
    ],
)
def test_a_data_path_the_corpus_would_not_read_is_a_config_error(
    overrides: list[str], expected: str
) -> None:
    """The default corpus (Shakespeare) used to ignore data.path silently: the run trained on
    Shakespeare while the user thought it read their files."""
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides)
    assert str(info.value).startswith(expected), str(info.value)
    assert "\n" not in str(info.value)


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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model:\n  n_layers: 4\n bad", r"is not valid YAML: .*\(line 3, column 2\)$"),
        ("model: [1, 2", r"is not valid YAML: .*\(line 1, column 13\)$"),
        ("- 1\n- 2\n", r"must hold a mapping at the top level$"),
    ],
)
def test_a_broken_config_file_is_one_line_naming_the_file_and_the_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"^config file {path} {message}") as err:
        load_config(path)
    assert "\n" not in str(err.value)


def test_an_empty_config_file_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing set\n")
    assert read_yaml_mapping(path, ConfigError, "config file") == {}
    assert load_config(path) == load_config(None)


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
