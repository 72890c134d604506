"""Statistics shared by every analysis, in one home: t-based intervals and Fieller ratios,
batched least squares, AR(1)-aware trends, permutation engines (Spearman, layer bands), Holm's
correction, the bootstrap over evaluation sequences, and the noise of a run (its correlation
between adjacent layers, `noise`).

Functions take a leading batch of data sets where they can, so the calibration harness runs
thousands of simulated runs through the very code a real run goes through.
"""

from analysis.stats.bands import BandContrasts, band_contrasts
from analysis.stats.bootstrap import bootstrap_means, bootstrap_rho, percentile_interval
from analysis.stats.intervals import (
    ALPHA,
    LEVEL,
    as_float,
    as_interval,
    fieller,
    t_crit,
    t_interval,
    t_pvalue,
)
from analysis.stats.noise import NoiseEstimate, estimate_noise, run_noise
from analysis.stats.permutation import (
    EXACT_MAX_N,
    N_PERMUTATIONS,
    holm,
    min_spearman_p,
    permutation_pvalue,
    spearman,
    spearman_exact,
)
from analysis.stats.regression import OLSFit, ols, polynomial_design, r_squared, wls
from analysis.stats.time_series import Trend, nanmean, smooth_time, trend

__all__ = [
    "ALPHA",
    "EXACT_MAX_N",
    "LEVEL",
    "N_PERMUTATIONS",
    "BandContrasts",
    "NoiseEstimate",
    "OLSFit",
    "Trend",
    "as_float",
    "as_interval",
    "band_contrasts",
    "bootstrap_means",
    "bootstrap_rho",
    "estimate_noise",
    "fieller",
    "holm",
    "min_spearman_p",
    "nanmean",
    "ols",
    "percentile_interval",
    "permutation_pvalue",
    "polynomial_design",
    "r_squared",
    "run_noise",
    "smooth_time",
    "spearman",
    "spearman_exact",
    "t_crit",
    "t_interval",
    "t_pvalue",
    "trend",
    "wls",
]
