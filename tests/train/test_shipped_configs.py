"""The shipped configs: every trainer YAML under configs/ validates, every study plan
(configs/study/, the files with a `base:` key) loads, and configs/PARAMS.md states each trainer
config's exact parameter count (recomputed from shapes with `nnx.eval_shape`, nothing
allocated)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from flax import nnx

from spectral_jax.model import Transformer, count_params, embedding_params
from train.config import load_config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
PLANS = sorted(
    p for p in CONFIGS.rglob("*.yaml") if "base" in (yaml.safe_load(p.read_text()) or {})
)
YAMLS = sorted(set(CONFIGS.rglob("*.yaml")) - set(PLANS))

# | `configs/x.yaml` | n_layers | d_model | heads | d_ff | vocab | total | non-embedding |
ROW = re.compile(r"^\|\s*`?(?P<config>[^|`]+?)`?\s*\|(?P<cells>(?:[^|]*\|){7})\s*$")
COLUMNS = ("n_layers", "d_model", "n_heads", "d_ff", "vocab_size", "total", "non_embedding")


def _rel(path: Path) -> str:
    return path.relative_to(CONFIGS).as_posix()


def _config_path(name: str) -> Path:
    """A PARAMS.md config cell (`configs/x.yaml`, `x.yaml` or `x`) as a file path."""
    name = name.removeprefix("configs/")
    return CONFIGS / (name if name.endswith(".yaml") else f"{name}.yaml")


def documented() -> dict[Path, dict[str, int]]:
    """The PARAMS.md table: config path -> its integer columns (thousands separators allowed)."""
    rows = {}
    for line in (CONFIGS / "PARAMS.md").read_text().splitlines():
        match = ROW.match(line.strip())
        if not match or match["config"].strip() == "config":
            continue
        cells = [c.strip().replace(",", "") for c in match["cells"].split("|")[:-1]]
        if not all(c.isdigit() for c in cells):
            continue  # the header separator row
        rows[_config_path(match["config"].strip())] = dict(
            zip(COLUMNS, map(int, cells), strict=True)
        )
    return rows


DOCUMENTED = documented()


def test_configs_exist() -> None:
    names = {_rel(p) for p in YAMLS}
    expected = {"demo.yaml", "custom_30m.yaml", "custom_85m.yaml", "custom_285m.yaml"}
    expected |= {f"depth/L{n}.yaml" for n in (4, 8, 12, 16, 24, 36)}
    assert expected <= names


@pytest.mark.parametrize("path", YAMLS, ids=_rel)
def test_config_loads(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.train.seq_len <= cfg.model.max_seq_len


@pytest.mark.parametrize("path", PLANS, ids=_rel)
def test_study_plan_loads_and_its_runs_validate(path: Path) -> None:
    from scripts.study.plan import load_plan

    plan = load_plan(str(path))
    assert load_config(plan.base).train.steps > 0


def test_params_md_lists_every_config() -> None:
    assert DOCUMENTED, "no rows parsed from configs/PARAMS.md"
    assert set(DOCUMENTED) == set(YAMLS)


@pytest.mark.parametrize("path", sorted(DOCUMENTED), ids=_rel)
def test_params_md_counts_are_exact(path: Path) -> None:
    row = DOCUMENTED[path]
    m = load_config(path).model
    assert (row["n_layers"], row["d_model"], row["n_heads"], row["d_ff"], row["vocab_size"]) == (
        m.n_layers,
        m.d_model,
        m.n_heads,
        m.d_ff,
        m.vocab_size,
    )
    abstract = nnx.eval_shape(lambda: Transformer(m, rngs=nnx.Rngs(0)))
    total = count_params(abstract)
    assert row["total"] == total, f"configs/PARAMS.md total is stale for {path.name}"
    assert row["non_embedding"] == total - embedding_params(m)


@pytest.mark.parametrize(
    ("name", "nominal"), [("custom_30m", 30e6), ("custom_85m", 85e6), ("custom_285m", 285e6)]
)
def test_custom_scales_are_near_nominal(name: str, nominal: float) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.model.d_ff == 4 * cfg.model.d_model and cfg.model.head_dim == 64
    assert abs(DOCUMENTED[CONFIGS / f"{name}.yaml"]["total"] / nominal - 1) < 0.03


def test_depth_family_differs_only_in_depth() -> None:
    dumps = {}
    for n in (4, 8, 12, 16, 24, 36):
        cfg = load_config(CONFIGS / "depth" / f"L{n}.yaml").to_dict()
        assert cfg["model"].pop("n_layers") == n and cfg["run"].pop("dir") == f"runs/depth/L{n}"
        assert cfg["spectral"]["every"] == 25
        dumps[n] = cfg
    assert all(d == dumps[4] for d in dumps.values())
