"""The noise of real runs: per-run figures from `analysis.stats.noise.run_noise` and the
seed-to-seed spread of final α profiles and onsets set beside what one run's noise predicts.

Within a run (`run_noise`, each run's own snapshots): the per-snapshot noise SD of α and of the
stable rank (relative: its logarithm) per layer, its lag-1 autocorrelation in time (AR(1) φ)
and the correlation of adjacent layers' noise, with the kinds averaged as the analyses average
them. Across seeds: the SD over seeds of each layer's final α (the report's profile, a mean over
the final window of w snapshots) against the standard error that window mean has under the
run's own noise, σ·√(v(φ, w)/w) with v the AR(1) variance factor; and the SD over seeds of each
layer's onset against the within-run scatter of onsets around their line in depth (the scatter
the wave-speed interval is built from). A ratio above 1 means seeds differ by more than
snapshot noise: fixed per-layer offsets that one run cannot see.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

METRICS = {"alpha": "α (tail MLE)", "stable_rank": "stable rank (log: relative SD)"}


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def run_figures(run_dir: str) -> dict[str, Any]:
    """`run_noise` of α and the stable rank of one run, every per-layer kind averaged."""
    from analysis import load_run
    from analysis.stats.noise import run_noise

    run = load_run(run_dir)
    out: dict[str, Any] = {"n_layers": run.n_layers, "n_snapshots": len(run.steps)}
    for metric in METRICS:
        est = run_noise(run, metric)
        sd = np.asarray(est.sd, float)
        x = run.rel_depth
        ok = np.isfinite(sd)
        slope = None
        if ok.sum() >= 3 and np.nanmean(sd) > 0:
            b, a = np.polyfit(x[ok], sd[ok], 1)
            slope = _finite(b / a) if a > 0 else None
        out[metric] = {
            "sd": [_finite(v) for v in sd],
            "sd_median": median_of_finite(sd),
            "residual_sd_median": median_of_finite(est.residual_sd),
            "time_corr": _finite(est.time_corr),
            "layer_corr": _finite(est.layer_corr),
            "layer_corr_se": _finite(est.layer_corr_se),
            "depth_sd": slope,  # SD ∝ (1 + depth_sd·x), the simulator's parameter
            "window": int(est.window),
            "reason": est.reason,
            "by_spacing": _by_spacing(run, metric),
        }
    return out


SPACINGS = (2, 5, 10)  # multiples of the probe interval


def _by_spacing(run: Any, metric: str) -> list[dict[str, Any]]:
    """Median residual scale (around each layer's local quadratic) and φ seen by a probe `k`
    times sparser, for each k of SPACINGS that leaves enough snapshots: the same at every k
    for snapshot noise, growing as √k for noise that drifts like a random walk."""
    from analysis.stats.noise import MIN_SNAPSHOTS, run_noise

    out = []
    for k in SPACINGS:
        if len(run.steps[::k]) < MIN_SNAPSHOTS:
            break
        est = run_noise(run, metric, stride=k)
        out.append(
            {
                "stride": k,
                "residual_sd_median": median_of_finite(est.residual_sd),
                "time_corr": _finite(est.time_corr),
            }
        )
    return out


def ar1_factor(phi: float, window: int) -> float:
    """Var(mean of `window` AR(1) values) · window / σ²: 1 for white noise."""
    k = np.arange(1, window)
    return float(1 + 2 * np.sum((1 - k / window) * phi**k)) if window > 1 else 1.0


def seed_spread(
    summaries: Sequence[dict[str, Any]], noise: Sequence[dict[str, Any] | None]
) -> dict[str, Any]:
    """Seed-to-seed SD of the final α profile and of the onsets, per layer and in the median
    over layers, with the within-run figures they are compared with (module docstring).

    `summaries`: each seed's report sections (`alpha_profile`, `wave`); `noise`: each seed's
    `run_figures` (or None when it could not be computed).
    """
    from analysis.stats import t_crit

    out: dict[str, Any] = {"seeds": len(summaries)}
    alpha = _stack([s.get("alpha_profile", {}).get("alpha") for s in summaries])
    onset = _stack([s.get("wave", {}).get("onset") for s in summaries])
    if alpha is None or len(summaries) < 2:
        return {**out, "reason": "needs ≥ 2 seeds with a final α profile"}
    seed_sd = _nanstd(alpha)
    within = []
    for s, fig in zip(summaries, noise, strict=True):
        est = (fig or {}).get("alpha") or {}
        window = int(s.get("alpha_profile", {}).get("window") or 1)
        sd = np.array([np.nan if v is None else v for v in est.get("sd") or []], float)
        phi = est.get("time_corr")
        if len(sd) == alpha.shape[1] and phi is not None:
            within.append(sd * math.sqrt(ar1_factor(phi, window) / window))
    within_se = None
    if within:
        squares = np.square(np.array(within, float))
        count = np.isfinite(squares).sum(0)
        total = np.where(np.isfinite(squares), squares, 0.0).sum(0)
        within_se = np.where(count > 0, np.sqrt(total / np.maximum(count, 1)), np.nan)
    seed_med = median_of_finite(seed_sd)
    within_med = None if within_se is None else median_of_finite(within_se)
    both = seed_med is not None and within_med is not None and within_med > 0
    out["alpha"] = {
        "seed_sd": [_finite(v) for v in seed_sd],
        "seed_sd_median": seed_med,
        "within_se": None if within_se is None else [_finite(v) for v in within_se],
        "within_se_median": within_med,
        "ratio": seed_med / within_med if both else None,
        "offset_sd": math.sqrt(max(seed_med**2 - within_med**2, 0.0)) if both else None,
    }
    if onset is not None:
        onset_sd = _nanstd(onset)
        scatter = []
        for s in summaries:
            wave = s.get("wave", {})
            ci, values = wave.get("slope_ci"), wave.get("onset") or []
            layers = np.array([i for i, v in enumerate(values) if v is not None], float)
            if ci and len(layers) >= 3:
                se = (ci[1] - ci[0]) / (2 * float(t_crit(len(layers) - 2)))
                scatter.append(se * math.sqrt(np.sum((layers - layers.mean()) ** 2)))
        onset_med = median_of_finite(onset_sd)
        within_scatter = _finite(np.mean(scatter)) if scatter else None
        both = onset_med is not None and within_scatter
        out["onset"] = {
            "seed_sd": [_finite(v) for v in onset_sd],
            "seed_sd_median": onset_med,
            "within_scatter": within_scatter,
            "ratio": onset_med / within_scatter if both else None,
        }
    return out


def _stack(rows: Sequence[Any]) -> np.ndarray | None:
    rows = [r for r in rows if isinstance(r, list) and r]
    if not rows or len({len(r) for r in rows}) != 1:
        return None
    return np.array([[np.nan if v is None else v for v in r] for r in rows], float)


def _nanstd(values: np.ndarray) -> np.ndarray:
    """SD over seeds (axis 0) per layer, NaN where fewer than 2 seeds have a value."""
    count = np.isfinite(values).sum(0)
    total = np.where(np.isfinite(values), values, 0.0).sum(0)
    mean = total / np.maximum(count, 1)
    dev = np.where(np.isfinite(values), values - mean, 0.0)
    var = (dev**2).sum(0) / np.maximum(count - 1, 1)
    return np.where(count >= 2, np.sqrt(var), np.nan)


def median_of_finite(values: Any) -> float | None:
    """Median of the finite values, or None when there are none."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return _finite(np.median(values)) if len(values) else None


def simulator_defaults(noise: dict[str, dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """Median over `names`' runs of the figures that map to `analysis.calibration.simulate.Noise`
    (alpha, rank, ar, layer_corr, depth_sd), as a proposal for its defaults."""
    picked = [noise[n] for n in names if noise.get(n)]

    def median(metric: str, key: str) -> float | None:
        values = [_finite((p.get(metric) or {}).get(key)) for p in picked]
        values = [v for v in values if v is not None]
        return median_of_finite(values)

    return {
        "runs": len(picked),
        "alpha": median("alpha", "sd_median"),
        "rank": median("stable_rank", "sd_median"),
        "ar_alpha": median("alpha", "time_corr"),
        "ar_rank": median("stable_rank", "time_corr"),
        "layer_corr_alpha": median("alpha", "layer_corr"),
        "layer_corr_rank": median("stable_rank", "layer_corr"),
        "depth_sd_alpha": median("alpha", "depth_sd"),
    }


def current_defaults() -> str:
    """`Noise()`'s defaults as `name = value` text, to set beside what the runs measured."""
    from dataclasses import asdict

    from analysis.calibration.simulate import Noise

    return ", ".join(
        f"{name} = {value:g}" if value is not None else f"{name} = None"
        for name, value in asdict(Noise()).items()
    )
