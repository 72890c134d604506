"""A study plan (`configs/study/<name>.yaml`): which runs to train and which analyses to run.

A plan names a base trainer config, a depth sweep (reference condition, first seed), the seeds
and the conditions (the referee's ablations) trained at one middle depth, and the runs that get
the importance and pruning analyses. `expand` turns it into one `RunSpec` per run, each with the
trainer overrides that make it; every run's config is validated by the trainer's own loader
before anything is trained.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PLAN_DIR = REPO / "configs" / "study"
PLAN_KEYS = {
    "name",
    "description",
    "base",
    "runs_dir",
    "results",
    "figures",
    "overrides",
    "depths",
    "middle_depth",
    "seeds",
    "conditions",
    "importance",
    "pruning",
    "seconds_per_layer_step",
    "seconds_per_run",
    "notes",
}
SELECT_KEYS = {"depths", "seeds", "tokens", "max_remove"}


class PlanError(ValueError):
    """A study plan that cannot be used; the one-line message names the key."""


@dataclass(frozen=True)
class Condition:
    """One training condition: a short name, a label for the results, trainer overrides."""

    name: str
    label: str
    overrides: dict[str, Any]


@dataclass(frozen=True)
class Selection:
    """Runs that get an analysis: the depth sweep's `depths` and, at the middle depth, every
    condition's first seed (`seeds: first`) or all its seeds (`seeds: all`)."""

    depths: tuple[int, ...] = ()
    seeds: str = "first"
    tokens: int = 16_384
    max_remove: int | None = None


@dataclass(frozen=True)
class RunSpec:
    """One run of the plan: where it lives and the trainer overrides that make it."""

    name: str  # "<condition>/L<depth>/s<seed>"
    condition: str
    depth: int
    seed: int
    run_dir: Path
    overrides: tuple[str, ...]
    steps: int = 0
    tokens_per_step: int = 0
    params: int = 0


@dataclass(frozen=True)
class Plan:
    """A parsed plan (see the module docstring and configs/study/full.yaml)."""

    name: str
    description: str
    base: Path
    runs_dir: Path
    results: Path
    figures: Path
    overrides: dict[str, Any]
    depths: tuple[int, ...]
    middle_depth: int
    seeds: tuple[int, ...]
    conditions: tuple[Condition, ...]
    importance: Selection
    pruning: Selection
    seconds_per_layer_step: float
    seconds_per_run: float
    notes: tuple[str, ...] = ()
    source: Path | None = None
    runs: tuple[RunSpec, ...] = field(default=())

    @property
    def reference(self) -> Condition:
        """The condition of the depth sweep (the first one listed)."""
        return self.conditions[0]

    def run(self, condition: str, depth: int, seed: int) -> RunSpec | None:
        """The plan's run of that condition, depth and seed, if it has one."""
        name = run_name(condition, depth, seed)
        return next((r for r in self.runs if r.name == name), None)

    def sweep(self) -> list[RunSpec]:
        """The depth sweep's runs, shallowest first."""
        runs = [self.run(self.reference.name, d, self.seeds[0]) for d in sorted(self.depths)]
        return [r for r in runs if r is not None]

    def group(self, condition: str) -> list[RunSpec]:
        """A condition's seed group at the middle depth, in seed order."""
        runs = [self.run(condition, self.middle_depth, s) for s in self.seeds]
        return [r for r in runs if r is not None]

    def selected(self, selection: Selection) -> list[RunSpec]:
        """The runs an importance or pruning selection names, deepest first, no repeats."""
        out = [self.run(self.reference.name, d, self.seeds[0]) for d in sorted(selection.depths)]
        seeds = self.seeds if selection.seeds == "all" else self.seeds[:1]
        out = [r for r in reversed(out) if r is not None]
        for cond in self.conditions:
            out += [r for s in seeds if (r := self.run(cond.name, self.middle_depth, s))]
        return list(dict.fromkeys(out))


def run_name(condition: str, depth: int, seed: int) -> str:
    """The run's name and its path under the plan's runs directory."""
    return f"{condition}/L{depth}/s{seed}"


def plan_path(plan: str) -> Path:
    """`quick` → configs/study/quick.yaml; a path to a YAML file is taken as it is."""
    path = Path(plan)
    if path.suffix in (".yaml", ".yml"):
        return path if path.is_absolute() else Path.cwd() / path
    return PLAN_DIR / f"{plan}.yaml"


def load_plan(plan: str, overrides: list[str] | None = None) -> Plan:
    """Read, override (`key=value`, dotted, YAML values) and check a plan; resolve its runs."""
    path = plan_path(plan)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PLAN_DIR.glob("*.yaml") if p.stem != "base"))
        raise PlanError(f"no study plan '{plan}' ({path} not found; plans: {known})")
    from train.config import read_yaml_mapping

    tree = read_yaml_mapping(path, PlanError, str(path))
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PlanError(f"plan override '{item}' is not key=value")
        _set(tree, key, yaml.safe_load(value) if value else None)
    return resolve(parse(tree, path))


def _set(tree: dict[str, Any], key: str, value: Any) -> None:
    top, _, rest = key.partition(".")
    if top not in PLAN_KEYS:
        raise PlanError(f"unknown plan key '{top}' (keys: {', '.join(sorted(PLAN_KEYS))})")
    if not rest:
        tree[top] = value
        return
    if top == "overrides":  # dotted trainer keys stay whole: overrides.optim.lr=1e-3
        tree.setdefault("overrides", {})[rest] = value
        return
    node = tree.setdefault(top, {})
    for part in rest.split(".")[:-1]:
        node = node.setdefault(part, {})
    node[rest.split(".")[-1]] = value


def _ints(value: Any, key: str, *, minimum: int = 0) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise PlanError(f"plan key '{key}' must be a list of integers, got {value!r}")
    if any(v < minimum for v in values) or len(set(values)) != len(values):
        raise PlanError(f"plan key '{key}' must hold distinct integers ≥ {minimum}, got {value!r}")
    return tuple(values)


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PlanError(f"plan key '{key}' must be a mapping, got {value!r}")
    return dict(value)


def _selection(value: Any, key: str) -> Selection:
    tree = _mapping(value, key)
    unknown = set(tree) - SELECT_KEYS
    if unknown:
        raise PlanError(f"unknown key '{key}.{sorted(unknown)[0]}' (keys: {sorted(SELECT_KEYS)})")
    seeds = tree.get("seeds", "first")
    if seeds not in ("first", "all"):
        raise PlanError(f"plan key '{key}.seeds' must be 'first' or 'all', got {seeds!r}")
    depths = _ints(tree["depths"], f"{key}.depths", minimum=2) if tree.get("depths") else ()
    tokens = tree.get("tokens", 16_384)
    if not isinstance(tokens, int) or tokens < 1:
        raise PlanError(f"plan key '{key}.tokens' must be a positive integer, got {tokens!r}")
    max_remove = tree.get("max_remove")
    if max_remove is not None and (not isinstance(max_remove, int) or max_remove < 1):
        raise PlanError(f"plan key '{key}.max_remove' must be a positive integer or null")
    return Selection(depths, seeds, tokens, max_remove)


def _path(value: Any, key: str) -> Path:
    if not isinstance(value, str) or not value:
        raise PlanError(f"plan key '{key}' must be a path, got {value!r}")
    path = Path(value).expanduser()
    return path if path.is_absolute() else REPO / path


def _positive(value: Any, key: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise PlanError(f"plan key '{key}' must be a positive number, got {value!r}")
    return float(value)


def _notes(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PlanError(f"plan key 'notes' must be a list of strings, got {value!r}")
    return tuple(" ".join(v.split()) for v in value)


def parse(tree: dict[str, Any], source: Path | None = None) -> Plan:
    """A `Plan` from its YAML tree (no runs resolved yet); `PlanError` names a bad key."""
    unknown = set(tree) - PLAN_KEYS
    if unknown:
        raise PlanError(f"unknown plan key '{sorted(unknown)[0]}' (keys: {sorted(PLAN_KEYS)})")
    missing = [k for k in ("name", "base", "runs_dir", "depths", "middle_depth") if k not in tree]
    if missing:
        raise PlanError(f"plan lacks the key '{missing[0]}'")
    conditions = []
    for name, spec in _mapping(tree.get("conditions") or {"adamw": {}}, "conditions").items():
        spec = _mapping(spec, f"conditions.{name}")
        extra = set(spec) - {"label", "overrides"}
        if extra:
            raise PlanError(f"unknown key 'conditions.{name}.{sorted(extra)[0]}'")
        if not str(name).isidentifier():
            raise PlanError(f"condition name '{name}' must be a plain identifier")
        overrides = _mapping(spec.get("overrides"), f"conditions.{name}.overrides")
        conditions.append(Condition(str(name), str(spec.get("label", name)), overrides))
    runs_dir = _path(tree["runs_dir"], "runs_dir")
    results = _path(tree.get("results") or str(runs_dir / "results.md"), "results")
    return Plan(
        name=str(tree["name"]),
        description=str(tree.get("description") or ""),
        base=_path(tree["base"], "base"),
        runs_dir=runs_dir,
        results=results,
        figures=_path(tree.get("figures") or str(results.with_suffix("")), "figures"),
        overrides=_mapping(tree.get("overrides"), "overrides"),
        depths=_ints(tree["depths"], "depths", minimum=1),
        middle_depth=_ints(tree["middle_depth"], "middle_depth", minimum=1)[0],
        seeds=_ints(tree.get("seeds", [0]), "seeds"),
        conditions=tuple(conditions),
        importance=_selection(tree.get("importance"), "importance"),
        pruning=_selection(tree.get("pruning"), "pruning"),
        seconds_per_layer_step=_positive(
            tree.get("seconds_per_layer_step", 0.03), "seconds_per_layer_step"
        ),
        seconds_per_run=_positive(tree.get("seconds_per_run", 30), "seconds_per_run"),
        notes=_notes(tree.get("notes")),
        source=source,
    )


def _dotted(overrides: dict[str, Any]) -> list[str]:
    """Trainer `key=value` overrides, values written as YAML (lists and null survive)."""
    out = []
    for key, value in overrides.items():
        text = yaml.safe_dump(value, default_flow_style=True).strip()
        out.append(f"{key}={text.removesuffix('...').strip()}")
    return out


def resolve(plan: Plan) -> Plan:
    """The plan with its runs: the depth sweep, then each condition's seeds at the middle depth.

    Every run's config is loaded by the trainer's own loader, so a bad override or base file
    stops here, naming the run and the key.
    """
    from spectral_jax.model import param_counts
    from train.config import ConfigError, load_config

    if not plan.base.is_file():
        raise PlanError(f"plan key 'base': no trainer config at {plan.base}")
    wanted = [(plan.reference, d, plan.seeds[0]) for d in plan.depths]
    wanted += [(c, plan.middle_depth, s) for c in plan.conditions for s in plan.seeds]
    unique = {run_name(c.name, d, s): (c, d, s) for c, d, s in wanted}
    runs, counts = [], {}
    for name, (cond, depth, seed) in unique.items():
        run_dir = plan.runs_dir / name
        overrides = [
            *_dotted(plan.overrides),
            *_dotted(cond.overrides),
            f"model.n_layers={depth}",
            f"run.seed={seed}",
            f"run.dir={run_dir}",
        ]
        try:
            config = load_config(plan.base, overrides)
        except ConfigError as err:
            raise PlanError(f"run {name}: {err}") from None
        key = config.model.model_dump_json()
        if key not in counts:
            counts[key] = param_counts(config.model)["total"]
        runs.append(
            RunSpec(
                name=name,
                condition=cond.name,
                depth=depth,
                seed=seed,
                run_dir=run_dir,
                overrides=tuple(overrides),
                steps=config.train.steps,
                tokens_per_step=config.train.batch_size * config.train.seq_len,
                params=counts[key],
            )
        )
    return dataclasses.replace(plan, runs=tuple(runs))
