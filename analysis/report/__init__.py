"""What a person reads: the run and scaling reports (findings first, figures, summary.json,
index.html), the checkpoint and importance figures, and the files each command writes."""

from analysis._lazy import lazy_getattr

__all__ = [
    "importance_headline",
    "write_importance",
    "write_pruning",
    "write_report",
    "write_scaling_report",
]

__getattr__ = lazy_getattr(
    __name__,
    {
        "write_report": "analysis.report.run_report",
        "write_scaling_report": "analysis.report.run_report",
        "importance_headline": "analysis.report.importance_files",
        "write_importance": "analysis.report.importance_files",
        "write_pruning": "analysis.report.importance_files",
    },
)
