"""Analysis decisions no other test pins: an inverted U needs α to rise then fall inside the
depth range, beyond the noise (a negative curvature or a vertex inside (0, 1) alone is not
enough); the scaling law's error is out of sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import Run, alpha_profile, fit_scaling_law

N_LAYERS = 12
X = np.arange(N_LAYERS) / (N_LAYERS - 1)
STEPS = np.arange(0, 1001, 50)


def zigzag(amplitude: float) -> np.ndarray:
    """Deterministic layer-to-layer noise orthogonal to every quadratic in x: a quadratic fit
    of `profile + zigzag(a)` has exactly the profile's coefficients, and residuals of size a."""
    alternating = np.where(np.arange(N_LAYERS) % 2, 1.0, -1.0)
    residual = alternating - np.polyval(np.polyfit(X, alternating, 2), X)
    return amplitude * residual / np.abs(residual).max()


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
    """α rising with depth and flattening (vertex at x = 1.6): a clearly negative curvature,
    but α never falls inside the layers, so there is no U."""
    prof = alpha_profile(static_profile(3.0 - 1.5 * (X - 1.6) ** 2 + zigzag(0.02)))
    assert prof.curvature == pytest.approx(-3.0, rel=1e-6)
    assert prof.curvature_ci[1] < 0
    assert prof.vertex == pytest.approx(1.6, rel=1e-6)
    assert prof.is_inverted_u is False


def test_a_curvature_within_the_noise_is_not_an_inverted_u() -> None:
    """A faint inverted U (curvature −0.1, vertex 0.5) under noise about 20 times its depth
    range: the point estimate alone is an inverted U inside (0, 1), but its interval includes 0,
    so the verdict is no."""
    prof = alpha_profile(static_profile(3.0 - 0.05 * (X - 0.5) ** 2 + zigzag(0.25)))
    assert prof.curvature == pytest.approx(-0.1, rel=1e-6)  # what the point estimate says
    assert 0 < -prof.coef[1] / (2 * prof.coef[2]) < 1
    assert prof.curvature_ci[0] < 0 < prof.curvature_ci[1]
    assert prof.is_inverted_u is False


def test_a_clear_inverted_u_inside_the_layers_is_one() -> None:
    """The same noise under a strong inverted U (vertex 0.4): the verdict is yes, so the two
    refusals above are not a test that never says yes."""
    prof = alpha_profile(static_profile(3.0 - 4.0 * (X - 0.4) ** 2 + zigzag(0.05)))
    assert prof.vertex == pytest.approx(0.4, rel=1e-6)
    assert prof.is_inverted_u is True


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
