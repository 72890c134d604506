"""Layer-health rules over spectral snapshots: one copy for the live trainer and the analysis.

Each snapshot (the spectra store's entry layout: `{"metrics": {metric: {kind: [layers]}},
"sigma": {kind: [layers, k]}}`) is judged per matrix and rule:

| rule            | holds when                                                               |
|-----------------|--------------------------------------------------------------------------|
| `alpha_low`     | a trusted α fit (`alpha_trusted`) is below `alpha_floor`                 |
| `alpha_high`    | a trusted α fit is above `alpha_ceiling`                                 |
| `rank_collapse` | stable rank < `rank_collapse` × its value at the first snapshot          |
| `sigma_growth`  | σ_max grew more than `sigma_growth`× over the last `sigma_window` snapshots |
| `non_finite`    | the matrix holds NaN/Inf (its spectrum and norms are NaN)                |

A snapshot that cannot judge a rule for a matrix (an untrusted α fit, a step before `warmup` for
the α and σ_max rules, NaN metrics) is skipped for it: it neither extends nor breaks a streak.
A rule fires when it holds on `persistence` consecutive judged snapshots (`non_finite` at once)
and clears on the first judged snapshot where it does not: noise that crosses a line once does
not flap. `HealthEvaluator` keeps that state; replaying a store's entries in order rebuilds it
(a resumed run does so, so the first-snapshot reference is the run's first, not the resume's).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from spectral_jax.health_config import RULES, HealthConfig

MIN_TAIL = 10  # α fits with a shorter tail (alpha_n) are not trusted
KS_CRITICAL = 1.36  # 5% critical value of the KS distance, times √n

Entry = Mapping[str, Mapping[str, Any]]


def alpha_trusted(alpha_n: Any, alpha_ks: Any) -> np.ndarray:
    """True where a tail fit is trusted: at least `MIN_TAIL` eigenvalues in its tail and a KS
    distance below the 5% critical value 1.36/√n (the power law is not rejected by the data it
    was fitted to). NaN inputs are not trusted."""
    n = np.asarray(alpha_n, dtype=float)
    ks = np.asarray(alpha_ks, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (n >= MIN_TAIL) & (ks <= KS_CRITICAL / np.sqrt(n))


def matrix_name(layer: int, kind: str) -> str:
    """`layer 7 v`, or the kind alone for the embeddings (layer −1)."""
    return kind if layer < 0 else f"layer {layer} {kind}"


@dataclass(frozen=True, kw_only=True)
class HealthEvent:
    """A rule starting (`state="start"`) or clearing for one matrix at a snapshot's step.

    `since`: the first snapshot of the streak that fired; `value`: what was judged at `step` (α,
    stable rank, σ_max growth factor; None when not finite or not judged); `threshold`: the line
    it crossed (for `rank_collapse`: the fraction × the first stable rank).
    """

    step: int
    rule: str
    state: Literal["start", "clear"]
    layer: int
    kind: str
    since: int
    value: float | None
    threshold: float | None
    message: str

    def row(self) -> dict[str, Any]:
        """The event as a `metrics.jsonl` row (`"event": "health"`)."""
        return {"step": self.step, "event": "health", **asdict(self)}


@dataclass(frozen=True, kw_only=True)
class Flag:
    """A rule in force for one matrix, since the first snapshot of its streak."""

    rule: str
    layer: int
    kind: str
    since: int


class _Judgement(NamedTuple):
    known: np.ndarray  # bool [layers]: the snapshot could judge the rule
    holds: np.ndarray  # bool [layers]: the rule's condition holds
    value: np.ndarray  # float [layers]
    threshold: np.ndarray  # float [layers]
    detail: str  # format of the value part of a message: `{v}`, `{t}`, `{r}` (reference)
    reference: np.ndarray  # float [layers] (rank: initial R_s; σ: σ_max N snapshots earlier)


def _fmt(value: float, spec: str) -> str:
    return format(value, spec) if np.isfinite(value) else "nan"


class HealthEvaluator:
    """The health rules' state over one run's snapshots, fed in step order by `update`."""

    def __init__(self, config: HealthConfig, layers: Mapping[str, Sequence[int]]) -> None:
        self.config = config
        self.layers = {kind: [int(layer) for layer in ls] for kind, ls in layers.items()}
        self.rules = config.enabled()
        zeros = {kind: np.zeros(len(ls), int) for kind, ls in self.layers.items()}
        self._count = {rule: {k: v.copy() for k, v in zeros.items()} for rule in self.rules}
        self._since = {rule: {k: v - 1 for k, v in zeros.items()} for rule in self.rules}
        self._active = {rule: {k: v > 0 for k, v in zeros.items()} for rule in self.rules}
        self._first_rank = {kind: np.full(len(ls), np.nan) for kind, ls in self.layers.items()}
        self._sigma: deque[dict[str, np.ndarray]] = deque(maxlen=config.sigma_window)
        self.last_step: int | None = None

    def update(self, step: int, entry: Entry) -> list[HealthEvent]:
        """Judge the snapshot of `step` (after every earlier one); the rules that start or
        clear with it, ordered by rule, kind and layer."""
        if self.last_step is not None and step <= self.last_step:
            raise ValueError(f"health: snapshot of step {step} after step {self.last_step}")
        self.last_step = step
        metrics = entry["metrics"]
        judged = self._judge(step, metrics, entry.get("sigma") or {})
        events = []
        for rule in self.rules:
            persistence = 1 if rule == "non_finite" else self.config.persistence
            for kind, layers in self.layers.items():
                j = judged[rule][kind]
                count, since, active = (
                    s[rule][kind] for s in (self._count, self._since, self._active)
                )
                holding = j.known & j.holds
                count[:] = np.where(j.known, np.where(j.holds, count + 1, 0), count)
                since[:] = np.where(holding & (count == 1), step, since)
                start = holding & ~active & (count >= persistence)
                clear = active & j.known & ~j.holds
                active[:] = (active | start) & ~clear
                for i in np.flatnonzero(start | clear):
                    state = "start" if start[i] else "clear"
                    events.append(
                        self._event(step, rule, state, layers[i], kind, int(since[i]), j, i)
                    )
        return events

    def flags(self) -> list[Flag]:
        """Every rule in force after the last snapshot, ordered by rule, kind and layer."""
        return [
            Flag(rule=rule, layer=layer, kind=kind, since=int(self._since[rule][kind][i]))
            for rule in self.rules
            for kind, layers in self.layers.items()
            for i, layer in enumerate(layers)
            if self._active[rule][kind][i]
        ]

    def counts(self) -> dict[str, int]:
        """Matrices each evaluated rule is in force for after the last snapshot."""
        return {
            rule: int(sum(active.sum() for active in self._active[rule].values()))
            for rule in self.rules
        }

    # -- the rules ------------------------------------------------------------------------------

    def _judge(
        self, step: int, metrics: Mapping[str, Any], sigma: Mapping[str, Any]
    ) -> dict[str, dict[str, _Judgement]]:
        cfg, warm = self.config, step >= self.config.warmup
        out: dict[str, dict[str, _Judgement]] = {rule: {} for rule in self.rules}
        window = cfg.sigma_window  # σ_max of the snapshot `window` judged snapshots back
        growth_then = self._sigma[0] if warm and len(self._sigma) == window else None
        now_sigma: dict[str, np.ndarray] = {}
        for kind in self.layers:

            def get(name: str, kind: str = kind) -> np.ndarray:
                return np.asarray(metrics[name][kind], dtype=float)

            norm, frob = get("spectral_norm"), get("frobenius_norm")
            bad = ~np.isfinite(norm) | ~np.isfinite(frob)
            if kind in sigma:
                bad |= ~np.isfinite(np.asarray(sigma[kind], dtype=float)).all(axis=-1)
            none = np.full(bad.shape, np.nan)
            if "non_finite" in out:
                out["non_finite"][kind] = _Judgement(
                    np.ones_like(bad), bad, none, none, "non-finite values (NaN/Inf)", none
                )
            alpha = get("alpha")
            trusted = warm & alpha_trusted(get("alpha_n"), get("alpha_ks")) & np.isfinite(alpha)
            for rule, line, below in (
                ("alpha_low", cfg.alpha_floor, True),
                ("alpha_high", cfg.alpha_ceiling, False),
            ):
                if rule in out:
                    holds = alpha < line if below else alpha > line
                    sign = "<" if below else ">"
                    name = "floor" if below else "ceiling"
                    detail = f"α {{v:.2f}} {sign} {name} {{t:g}}"
                    out[rule][kind] = _Judgement(
                        trusted, holds, alpha, np.full(bad.shape, line), detail, none
                    )
            rank = get("stable_rank")
            first = self._first_rank[kind]
            first[:] = np.where(np.isnan(first) & np.isfinite(rank), rank, first)
            if "rank_collapse" in out:
                line = cfg.rank_collapse * first
                known = np.isfinite(rank) & np.isfinite(first)
                detail = f"stable rank {{v:.1f}} < {cfg.rank_collapse:g} × initial {{r:.1f}}"
                out["rank_collapse"][kind] = _Judgement(
                    known, rank < line, rank, line, detail, first.copy()
                )
            now_sigma[kind] = np.where(bad, np.nan, norm)
            if "sigma_growth" in out:
                then = growth_then[kind] if growth_then is not None else none
                with np.errstate(invalid="ignore", divide="ignore"):
                    ratio = now_sigma[kind] / then
                known = np.isfinite(ratio) & (then > 0)
                detail = (
                    f"σ_max grew {{v:.1f}}× (> {{t:g}}×) over {window} snapshots, from {{r:.3g}}"
                )
                out["sigma_growth"][kind] = _Judgement(
                    known,
                    ratio > cfg.sigma_growth,
                    ratio,
                    np.full(bad.shape, cfg.sigma_growth),
                    detail,
                    then,
                )
        if warm:
            self._sigma.append(now_sigma)
        return out

    def _event(
        self,
        step: int,
        rule: str,
        state: str,
        layer: int,
        kind: str,
        since: int,
        j: _Judgement,
        i: int,
    ) -> HealthEvent:
        value, line, ref = float(j.value[i]), float(j.threshold[i]), float(j.reference[i])
        who = matrix_name(layer, kind)
        if state == "start":
            what = j.detail.format(v=value, t=line, r=ref)
            message = f"{who}: {what} since step {since:,}"
        else:
            now = _cleared(rule, value, line)
            message = (
                f"{who}: {rule} cleared at step {step:,} ({now}; flagged since step {since:,})"
            )
        finite = np.isfinite(value)
        return HealthEvent(
            step=step,
            rule=rule,
            state=state,  # type: ignore[arg-type]
            layer=layer,
            kind=kind,
            since=since,
            value=value if finite else None,
            threshold=line if np.isfinite(line) else None,
            message=message,
        )


def _cleared(rule: str, value: float, line: float) -> str:
    """What a cleared rule's quantity is now, for its message."""
    if rule == "non_finite":
        return "values finite again"
    if rule.startswith("alpha"):
        return f"α {_fmt(value, '.2f')}"
    if rule == "rank_collapse":
        return f"stable rank {_fmt(value, '.1f')}, line {_fmt(line, '.1f')}"
    return f"σ_max grew {_fmt(value, '.1f')}×"


__all__ = [
    "KS_CRITICAL",
    "MIN_TAIL",
    "RULES",
    "Flag",
    "HealthConfig",
    "HealthEvaluator",
    "HealthEvent",
    "alpha_trusted",
    "matrix_name",
]
