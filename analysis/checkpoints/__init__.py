"""Spectra of checkpoints that were not trained here: pretrained GPT-2 / Pythia models (one run
directory each) and checkpoint series (one spectra store over the revisions)."""

from analysis._lazy import lazy_getattr

__all__ = ["analyse_pretrained", "analyse_series"]

__getattr__ = lazy_getattr(
    __name__,
    {
        "analyse_pretrained": "analysis.checkpoints.pretrained_spectra",
        "analyse_series": "analysis.checkpoints.series",
    },
)
