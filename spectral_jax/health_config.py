"""The layer-health rules' names and thresholds (the `spectral.health.*` config section).

One definition for the trainer (which evaluates the rules live, in its spectra sink) and for
`python -m analysis health` (which evaluates them on a store or a checkpoint afterwards). The
defaults never fire on the demo run (`configs/demo.yaml`); docs/monitoring.md says where each
comes from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Rule = Literal["alpha_low", "alpha_high", "rank_collapse", "sigma_growth", "non_finite"]
RULES: tuple[str, ...] = ("alpha_low", "alpha_high", "rank_collapse", "sigma_growth", "non_finite")


class HealthConfig(BaseModel):
    """Thresholds of the health rules; a threshold of `None` turns its rule off.

    Each rule is judged per matrix and snapshot; it fires when its condition holds on
    `persistence` consecutive snapshots that could judge it (`non_finite`: at once) and clears
    on the first snapshot where it no longer holds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha_floor: float | None = Field(1.2, gt=1.0)  # alpha_low: quality-gated α below this
    alpha_ceiling: float | None = Field(6.0, gt=1.0)  # alpha_high: quality-gated α above this
    rank_collapse: float | None = Field(0.05, gt=0.0, lt=1.0)  # R_s < this × first R_s
    sigma_growth: float | None = Field(4.0, gt=1.0)  # σ_max grew more than this factor ...
    sigma_window: int = Field(4, gt=0)  # ... over this many snapshots
    persistence: int = Field(2, gt=0)  # consecutive snapshots before a rule fires
    warmup: int = Field(100, ge=0)  # steps whose snapshots the α and σ_max rules skip
    stop_on: list[Rule] = []  # rules whose start ends the run (checkpoint, exit code 3)

    @model_validator(mode="after")
    def _check(self) -> HealthConfig:
        low, high = self.alpha_floor, self.alpha_ceiling
        if low is not None and high is not None and low >= high:
            raise ValueError(
                f"spectral.health.alpha_floor ({low}) must be below alpha_ceiling ({high})"
            )
        off = [rule for rule in self.stop_on if self.threshold(rule) is None]
        if off:
            raise ValueError(f"spectral.health.stop_on: rule '{off[0]}' is turned off")
        return self

    def threshold(self, rule: str) -> float | None:
        """The threshold that switches `rule` on (`non_finite` has none and is always on)."""
        return {
            "alpha_low": self.alpha_floor,
            "alpha_high": self.alpha_ceiling,
            "rank_collapse": self.rank_collapse,
            "sigma_growth": self.sigma_growth,
            "non_finite": 0.0,
        }[rule]

    def enabled(self) -> tuple[str, ...]:
        """The rules this configuration evaluates, in `RULES` order."""
        return tuple(rule for rule in RULES if self.threshold(rule) is not None)
