"""Analysis decisions no other test pins: an inverted U needs its vertex inside the depth range
and a curvature its interval keeps below zero; the scaling law's error is out of sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import Run, alpha_profile, fit_scaling_law

N_LAYERS = 12
X = np.arange(N_LAYERS) / (N_LAYERS - 1)
STEPS = np.arange(0, 1001, 50)


def static_profile(alpha: np.ndarray) -> Run:
    """A run whose α depth profile `alpha[L]` is the same at every snapshot."""
    grid = np.broadcast_to(alpha, (len(STEPS), N_LAYERS))
    return Run.from_frame(
        pd.DataFrame(
            {
                "step": np.repeat(STEPS, N_LAYERS),
                "layer": np.tile(np.arange(N_LAYERS), len(STEPS)),
                "kind": "q",
                "alpha": grid.ravel(),
            }
        )
    )


def test_a_concave_profile_peaking_beyond_the_last_layer_is_not_an_inverted_u() -> None:
    """α rising with depth and flattening (vertex at x = 1.6): curvature clearly negative, but
    the peak lies outside the layers, so there is no U."""
    prof = alpha_profile(static_profile(3.0 - 1.5 * (X - 1.6) ** 2))
    assert prof.curvature == pytest.approx(-3.0, rel=1e-6)
    assert prof.curvature_ci[1] < 0
    assert prof.vertex == pytest.approx(1.6, rel=1e-6)
    assert not prof.is_inverted_u


def test_a_curvature_within_the_noise_is_not_an_inverted_u() -> None:
    """A faint inverted U (curvature −0.1, vertex 0.5) under a zigzag about 20 times its
    depth range, made orthogonal to every quadratic so that the fit's point estimate is exactly
    the planted U: its interval includes 0, so the verdict is no."""
    alternating = np.where(np.arange(N_LAYERS) % 2, 1.0, -1.0)
    zigzag = alternating - np.polyval(np.polyfit(X, alternating, 2), X)
    zigzag *= 0.25 / np.abs(zigzag).max()
    prof = alpha_profile(static_profile(3.0 - 0.05 * (X - 0.5) ** 2 + zigzag))
    assert prof.curvature == pytest.approx(-0.1, rel=1e-6)  # the point estimate alone: a U
    assert prof.vertex == pytest.approx(0.5, rel=1e-6)
    assert prof.curvature_ci[0] < 0 < prof.curvature_ci[1]
    assert not prof.is_inverted_u


def test_scaling_error_is_leave_one_out() -> None:
    """`loo_error` is the RMS error of each run's ln Δα predicted by the law fitted to the
    others, not the in-sample residual (which is smaller)."""
    depths = np.array([4.0, 8.0, 12.0, 16.0, 24.0, 36.0])
    noise = np.random.default_rng(3).normal(0.0, 0.05, len(depths))
    delta = 0.3 * depths**0.26 * np.exp(noise)
    res = fit_scaling_law(depths, delta)
    lx, ly = np.log(depths), np.log(delta)
    held_out = []
    for i in range(len(depths)):
        keep = np.arange(len(depths)) != i
        slope, intercept = np.polyfit(lx[keep], ly[keep], 1)
        held_out.append(intercept + slope * lx[i])
    held_out = np.array(held_out)
    assert res.loo_error == pytest.approx(np.sqrt(np.mean((held_out - ly) ** 2)), rel=1e-9)
    np.testing.assert_allclose(res.loo_predictions, np.exp(held_out), rtol=1e-9)
    slope, intercept = np.polyfit(lx, ly, 1)
    in_sample = np.sqrt(np.mean((intercept + slope * lx - ly) ** 2))
    assert res.loo_error > 1.1 * in_sample
