"""The vectorised α fit equals the per-xmin loop and recovers planted power laws."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from spectral_jax.metrics import spectral_metrics
from spectral_jax.powerlaw import fit_power_law
from tests.spectral_jax.reference import loop_power_law_fit, pareto_eigenvalues


@pytest.mark.parametrize("alpha0", [2.0, 3.0, 4.0])
def test_vectorised_fit_equals_loop_reference(alpha0: float) -> None:
    rng = np.random.default_rng(int(alpha0 * 10))
    spectra = np.stack([pareto_eigenvalues(alpha0, 400, rng) for _ in range(4)])
    got = fit_power_law(jnp.asarray(spectra))
    for i, lam in enumerate(spectra):
        alpha, xmin, n, ks = loop_power_law_fit(lam)
        assert float(got["alpha"][i]) == pytest.approx(alpha, rel=1e-5)
        assert float(got["alpha_xmin"][i]) == pytest.approx(xmin, rel=1e-6)
        assert int(got["alpha_n"][i]) == n
        assert float(got["alpha_ks"][i]) == pytest.approx(ks, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("alpha0", [2.0, 3.0, 4.0])
def test_recovers_planted_exponent(alpha0: float) -> None:
    rng = np.random.default_rng(7 + int(alpha0))
    lam = np.stack([pareto_eigenvalues(alpha0, 1500, rng) for _ in range(3)])
    alphas = np.asarray(fit_power_law(jnp.asarray(lam))["alpha"])
    assert np.all(np.abs(alphas - alpha0) < 0.15), alphas


def test_alpha_through_metrics_uses_eigenvalues_of_sigma() -> None:
    rng = np.random.default_rng(3)
    lam = pareto_eigenvalues(3.0, 1200, rng)
    sigma = np.sort(np.sqrt(lam))[::-1]
    metrics = spectral_metrics(jnp.asarray(sigma.copy()))
    alpha, *_ = loop_power_law_fit(sigma.astype(np.float64) ** 2)
    assert float(metrics["alpha"]) == pytest.approx(alpha, rel=1e-5)


def test_degenerate_spectra_give_nan() -> None:
    spectra = jnp.asarray([[0.0, 0.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0], [1.0, np.nan, 2.0, 3.0]])
    out = fit_power_law(spectra)
    assert np.all(np.isnan(np.asarray(out["alpha"])))
