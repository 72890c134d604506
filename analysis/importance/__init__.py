"""Which blocks a model needs: evaluation data, block ablation, importance scores and their rank
correlation with α, and layer pruning by each strategy. Runs the model (JAX), so it is imported
on first use."""

from analysis._lazy import lazy_getattr

__all__ = ["ImportanceResult", "PruningResult", "layer_importance", "prune_layers"]

__getattr__ = lazy_getattr(
    __name__,
    {
        "ImportanceResult": "analysis.importance.scores",
        "layer_importance": "analysis.importance.scores",
        "PruningResult": "analysis.importance.pruning",
        "prune_layers": "analysis.importance.pruning",
    },
)
