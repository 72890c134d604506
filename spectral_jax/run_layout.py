"""The layout of a run directory: one definition for the trainer that writes it and the
analysis that reads it (the analysis never imports the trainer, so the rule lives here).

    RUN/config.yaml             the resolved config
    RUN/checkpoints/<step>/     Orbax checkpoints: items `state` (train state) and `data`
                                (the data iterator's position)
    RUN/corrupt_checkpoints/    checkpoints that did not restore, moved aside on a resume
    RUN/spectra/                the spectra store (`spectral_jax.store`)
    RUN/tb/                     TensorBoard events
    RUN/metrics.jsonl           the training log
    RUN/tokenizer.json          the BPE a text run trained
    RUN/.lock                   held by the running trainer
    RUN/report/                 written by `python -m analysis report RUN`
"""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.yaml"
CHECKPOINTS = "checkpoints"
CORRUPT_CHECKPOINTS = "corrupt_checkpoints"
SPECTRA = "spectra"
TENSORBOARD = "tb"
TRAINING_LOG = "metrics.jsonl"
LOCK_FILE = ".lock"
TOKENIZER_FILE = "tokenizer.json"
REPORT = "report"

# The Orbax items of one checkpoint.
STATE_ITEM = "state"  # the train state: {"params", "opt_state", "step", ...}
DATA_ITEM = "data"  # the data iterator's position (JSON)


def checkpoint_dir(checkpoints: Path, step: int) -> Path:
    """`checkpoints/<step>/`, the checkpoint of `step` under a run's `checkpoints/`."""
    return Path(checkpoints) / str(step)


def checkpoint_state(checkpoints: Path, step: int) -> Path:
    """`checkpoints/<step>/state/`, the train state of checkpoint `step`."""
    return checkpoint_dir(checkpoints, step) / STATE_ITEM


def checkpoint_steps(checkpoints: Path) -> list[int]:
    """Steps of the committed checkpoints under `checkpoints/`, ascending (Orbax renames a
    checkpoint to its bare step only once it is complete)."""
    checkpoints = Path(checkpoints)
    if not checkpoints.is_dir():
        return []
    return sorted(
        int(p.name) for p in checkpoints.iterdir() if p.name.isdigit() and (p / STATE_ITEM).is_dir()
    )
