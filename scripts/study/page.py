"""The results page (Markdown): every claim of the paper beside this study's estimate, interval
and verdict per condition, on one seed and across seeds; the depth sweep; importance and
pruning; the measured noise; the runs, their loss curves and what they cost.

Built only from what the analysis stage collected (`study.json`), so it can be rebuilt without
re-running anything. Verdicts are the analysis CLIs' own; for importance and pruning, whose CLIs
report a decision rather than a verdict, the mapping is stated on the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from scripts.study.noise import median_of_finite
from scripts.study.runner import fmt_time

SUPPORTED, NOT_SUPPORTED, UNTESTABLE = "supported", "not supported", "cannot be tested here"
SECTIONS = (
    "Status",
    "Outcome",
    "Findings beside the paper",
    "Depth sweep",
    "Layer importance and pruning",
    "Noise of real runs",
    "Runs and loss curves",
    "Cost",
    "Reproduce and scale",
    "Problems",
)
# The six lifecycle claims, in the order of analysis.report.findings.run_findings, with the
# paper's statement and the across-seed statistic summarising each.
LIFECYCLE = (
    (
        "Compression wave, early → late, and its speed",
        "travels early → late (no speed given)",
        ("wave", "speed"),
        "layers/1k steps",
    ),
    (
        "Reversal of G(t)",
        "G peaks early, then reverses (late layers over-compress)",
        ("wave", "reversal_step"),
        "step",
    ),
    (
        "Inverted U of α over depth",
        "inverted U in deeper models",
        ("alpha_profile", "vertex"),
        "vertex (rel. depth)",
    ),
    (
        "Persistence of the α profile",
        "permanent depth gradient",
        ("alpha_profile", "drift"),
        "drift over final third",
    ),
    (
        "Q/K–V asymmetry",
        "Q/K carry the depth dependence, V/O compress uniformly",
        ("asymmetry", "difference"),
        "ln-onset slope Q/K − V/O",
    ),
    (
        "Two timescales (α slower than compression)",
        "two-timescale model fits",
        ("two_timescale", "ratio"),
        "τ_slow/τ_fast",
    ),
)
PAPER_BETA, PAPER_R2 = 0.26, 0.99
PAPER_RHO = "ρ = 0.69–0.84 (p < 0.02), 9 models"
PAPER_PRUNE = "Last-N/spectral 1.1×–3.6× (7 models); worst/best up to 23.7×"


def fmt(value: Any, digits: int = 3) -> str:
    """A number in `digits` significant figures, or — for a missing one."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int | float):
        return f"{value:.{digits}g}"
    return str(value)


def ci(value: Any, interval: Any, digits: int = 3) -> str:
    """`value [lo, hi]`, or the value with "no interval"."""
    if value is None:
        return "—"
    if interval and None not in interval:
        return f"{fmt(value, digits)} [{fmt(interval[0], digits)}, {fmt(interval[1], digits)}]"
    return f"{fmt(value, digits)} (no interval)"


def phi(value: Any) -> str:
    """An AR(1) coefficient from `run_noise`; its grid ends at 0.95, so that value is a bound."""
    if isinstance(value, int | float) and value >= 0.95:
        return "≥ 0.95"
    return fmt(value, 2)


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def _bold(verdict: str) -> str:
    return f"**{verdict}**" if verdict == SUPPORTED else verdict


# -- reading the collected outputs ---------------------------------------------------------------


def seed_sections(summary: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each seed's report sections of a group summary (a one-run summary is its own)."""
    if not summary:
        return []
    return summary.get("per_seed") or [summary]


def one_seed_finding(summary: dict[str, Any] | None, index: int) -> dict[str, Any] | None:
    """The first seed's finding `index` (its run findings, whether or not in a group)."""
    sections = seed_sections(summary)
    if not sections:
        return None
    findings = sections[0].get("findings")
    if findings is None and summary is not None and len(seed_sections(summary)) == 1:
        findings = summary.get("findings")
    return findings[index] if findings and index < len(findings) else None


def group_finding(summary: dict[str, Any] | None, index: int) -> dict[str, Any] | None:
    """The group finding `index` (None unless the summary is a seed group)."""
    if not summary or not summary.get("per_seed"):
        return None
    findings = summary.get("findings") or []
    return findings[index] if index < len(findings) else None


def importance_verdict(row: dict[str, Any] | None) -> str:
    """The paper's claim (α predicts importance: ρ > 0) from the CLI's decision: supported when
    ρ(α, delta_loss) > 0 with Holm p < 0.05, untestable when the CLI refused the test."""
    if not row:
        return UNTESTABLE
    decision = str(row.get("decision") or "")
    if decision.startswith("refused") or row.get("rho") is None:
        return UNTESTABLE
    significant = row.get("p_holm") is not None and row["p_holm"] < 0.05
    return SUPPORTED if significant and row["rho"] > 0 else NOT_SUPPORTED


def pruning_verdict(head: dict[str, Any]) -> str:
    """Spectral beats Last-N when the bootstrap CI of their perplexity difference says the
    spectral choice is lower; untestable when the ratio is undefined."""
    verdict = str(head.get("last_n_over_spectral_verdict") or "")
    if head.get("last_n_over_spectral") is None and head.get("last_n_over_spectral_note"):
        return UNTESTABLE
    if verdict.startswith("spectral has the lower"):
        return SUPPORTED
    return NOT_SUPPORTED if verdict else UNTESTABLE


def across(values: Sequence[float | None]) -> tuple[float | None, tuple[float, float] | None]:
    """Mean over seeds and its t-interval (the analysis' seed-level interval for < 10 seeds)."""
    from analysis.lifecycle.seeds import interval

    finite = np.array([v for v in values if v is not None], float)
    if not len(finite):
        return None, None
    return float(finite.mean()), interval(finite, 1000, 0)


# -- sections -------------------------------------------------------------------------------------


class Page:
    """The results page of one plan's collected outputs."""

    def __init__(self, data: dict[str, Any], figures: dict[str, str], figure_dir: str) -> None:
        self.data = data
        self.plan = data["plan"]
        self.figures = figures
        self.figure_dir = figure_dir.rstrip("/")
        self.conditions = self.plan["conditions"]
        self.reference = self.conditions[0]["name"]
        self.groups = data.get("groups") or {}
        self.lines: list[str] = []

    def figure(self, file: str, caption: str) -> None:
        why = self.figures.get(file)
        if why is None:
            return
        if why:
            self.lines += [f"*Figure {file}: {why}.*", ""]
        else:
            self.lines += [f"![{caption}]({self.figure_dir}/{file})", "", f"*{caption}*", ""]

    def heading(self, title: str) -> None:
        self.lines += [f"## {title}", ""]

    def paragraph(self, text: str) -> None:
        """A block of text and the blank line that ends it (as every block here ends)."""
        self.lines += [text, ""]

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A Markdown table and the blank line that ends it."""
        self.lines += [*markdown_table(header, rows), ""]

    def build(self, status: dict[str, Any]) -> str:
        self.lines = ["# Results: the paper's claims re-measured on real training runs", ""]
        self.status(status)
        self.outcome()
        self.findings()
        self.depth_sweep()
        self.importance()
        self.noise()
        self.runs()
        self.cost(status)
        self.reproduce()
        self.problems()
        return "\n".join(self.lines).rstrip() + "\n"

    def status(self, status: dict[str, Any]) -> None:
        self.heading("Status")
        self.paragraph(
            f"Generated by `make study STUDY={self.plan['name']}` (`python -m scripts.study "
            f"--plan {self.plan['name']}`) on {status.get('date', '?')} at commit "
            f"`{status.get('commit', '?')}`; {len(self.data.get('runs') or [])} runs under "
            f"`{self.plan['runs_dir']}`. {self.plan.get('description') or ''}".rstrip()
        )
        if self.plan["name"] == "quick":
            self.paragraph(
                "**This page comes from the `quick` plan, not the full study: its runs are too "
                "small for its numbers to mean anything about the paper.**"
            )
        steps = ", ".join(f"{s:,}" for s in self.plan.get("steps") or [])
        tokens = ", ".join(f"{t:,}" for t in self.plan.get("tokens_per_step") or [])
        self.paragraph(
            f"Plan `{self.plan['name']}` (base config `{self.plan.get('base', '?')}`): depth sweep "
            f"L = {', '.join(str(d) for d in self.plan['depths'])} ({self.conditions[0]['label']}, "
            f"seed {self.plan['seeds'][0]}); seeds {', '.join(map(str, self.plan['seeds']))} of "
            f"every condition at L = {self.plan['middle_depth']}; {steps} steps × {tokens} tokens "
            "per run. Conditions:"
        )
        for cond in self.conditions:
            overrides = ", ".join(f"`{k}={v}`" for k, v in cond.get("overrides", {}).items())
            self.lines.append(f"- {cond['label']} (`{cond['name']}`): {overrides or 'the base'}")
        self.lines += [""] + [f"- {note}" for note in self.plan.get("notes") or []]
        if self.plan.get("notes"):
            self.lines.append("")

    def _verdict_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for cond in self.conditions:
            summary = self.groups.get(cond["name"])
            tally = {SUPPORTED: 0, NOT_SUPPORTED: 0, UNTESTABLE: 0}
            for i in range(len(LIFECYCLE)):
                found = group_finding(summary, i) or one_seed_finding(summary, i)
                tally[found["verdict"] if found else UNTESTABLE] += 1
            counts[cond["name"]] = tally
        return counts

    def outcome(self) -> None:
        self.heading("Outcome")
        counts = self._verdict_counts()
        seeds = len(self.plan["seeds"])
        for cond in self.conditions:
            tally = counts[cond["name"]]
            held = [
                LIFECYCLE[i][0]
                for i in range(len(LIFECYCLE))
                if (
                    group_finding(self.groups.get(cond["name"]), i)
                    or one_seed_finding(self.groups.get(cond["name"]), i)
                    or {}
                ).get("verdict")
                == SUPPORTED
            ]
            self.lines.append(
                f"- **{cond['label']}** (L={self.plan['middle_depth']}, {seeds} seed(s)): "
                f"{tally[SUPPORTED]} of {len(LIFECYCLE)} lifecycle claims supported"
                + (f" ({'; '.join(held)})" if held else "")
                + f", {tally[NOT_SUPPORTED]} not supported, {tally[UNTESTABLE]} untestable."
            )
        scaling = (self.data.get("scaling") or {}).get("scaling") or {}
        self.lines.append(
            f"- Depth law over L = {', '.join(str(d) for d in self.plan['depths'])}: β = "
            f"{ci(scaling.get('beta'), scaling.get('beta_ci'), 2)} (paper {PAPER_BETA}); "
            f"verdict: {self._scaling_verdict(0)}."
        )
        imp = [self._rho(n) for n in (self.data.get("importance") or {})]
        imp = [r for r in imp if r]
        if imp:
            held = sum(importance_verdict(r) == SUPPORTED for r in imp)
            self.lines.append(
                f"- α vs layer importance: ρ > 0 significant in {held} of {len(imp)} runs "
                f"(paper {PAPER_RHO})."
            )
        self.lines.append("")

    def _scaling_verdict(self, index: int) -> str:
        findings = (self.data.get("scaling") or {}).get("findings") or []
        if index >= len(findings):
            return UNTESTABLE
        return findings[index]["verdict"]

    def _rho(self, name: str) -> dict[str, Any] | None:
        found = (self.data.get("importance") or {}).get(name) or {}
        return (found.get("correlations") or {}).get("alpha")

    def findings(self) -> None:
        self.heading("Findings beside the paper")
        self.paragraph(
            "One row per claim and condition. *One seed*: the first seed's run, its verdict and "
            "estimate with the 95% interval of that run (`python -m analysis report RUN`). "
            "*Across seeds*: the seed group (`report RUN1 RUN2 RUN3`): supported when every "
            "seed able to test the claim supports it; the mean over seeds with its seed-level "
            "t-interval. Verdicts: *supported*, *not supported*, *cannot be tested here*."
        )
        rows = []
        for i, (claim, paper, (section, key), unit) in enumerate(LIFECYCLE):
            for cond in self.conditions:
                summary = self.groups.get(cond["name"])
                one = one_seed_finding(summary, i)
                group = group_finding(summary, i)
                stat = ((summary or {}).get("across_seeds") or {}).get(section, {}).get(key) or {}
                one_text = f"{_bold(one['verdict'])}: {one['estimate']}" if one else "not computed"
                group_text = (
                    f"{_bold(group['verdict'])}, {group['estimate']}; {unit} "
                    f"{ci(stat.get('mean'), stat.get('ci'))}"
                    if group
                    else "one seed only"
                )
                rows.append([claim, paper, cond["label"], one_text, group_text])
        rows += self._depth_rows()
        rows += self._importance_rows()
        rows += self._pruning_rows()
        self.table(["claim", "paper", "condition", "one seed", "across seeds"], rows)
        self.figure(
            "profiles.png",
            "Final α profile vs relative depth: the depth sweep (left) "
            "and every seed of every condition at the middle depth (right).",
        )
        self.figure(
            "onsets.png",
            "Compression onset per layer, every seed of every condition (a wave is a rising line).",
        )

    def _depth_rows(self) -> list[list[str]]:
        scaling = (self.data.get("scaling") or {}).get("scaling") or {}
        findings = (self.data.get("scaling") or {}).get("findings") or []
        rows = []
        claims = (
            (
                "Vertex shifts earlier with depth",
                "peak moves to earlier layers as L grows",
                1,
                f"slope per ln L {ci(scaling.get('vertex_slope'), scaling.get('vertex_slope_ci'))}",
            ),
            (
                "Δα ∝ L^β",
                f"β = {PAPER_BETA}, R² = {PAPER_R2}",
                0,
                f"β {ci(scaling.get('beta'), scaling.get('beta_ci'), 2)}, R² "
                f"{fmt(scaling.get('r2'), 2)}; 0.26 "
                + self._inside(PAPER_BETA, scaling.get("beta_ci")),
            ),
        )
        for claim, paper, index, estimate in claims:
            found = findings[index] if index < len(findings) else None
            verdict = found["verdict"] if found else UNTESTABLE
            for j, cond in enumerate(self.conditions):
                if j == 0:
                    text = f"{_bold(verdict)}: {estimate}"
                    group = f"one seed per depth ({len(self.plan['depths'])} depths)"
                else:
                    text = f"{UNTESTABLE}: the plan trains this condition at one depth only"
                    group = "—"
                rows.append([claim, paper, cond["label"], text, group])
        return rows

    @staticmethod
    def _inside(value: float, interval: Any) -> str:
        if not interval or None in interval:
            return "cannot be compared (no interval)"
        inside = interval[0] <= value <= interval[1]
        return "inside the interval" if inside else "outside the interval"

    def _runs_of(self, condition: str, depth: int) -> list[dict[str, Any]]:
        return [
            r
            for r in self.data.get("runs") or []
            if r["condition"] == condition and r["depth"] == depth
        ]

    def _importance_rows(self) -> list[list[str]]:
        rows = []
        for cond in self.conditions:
            runs = self._runs_of(cond["name"], self.plan["middle_depth"])
            found = [(r, self._rho(r["name"])) for r in runs]
            found = [(r, row) for r, row in found if row]
            if not found:
                rows.append(
                    [
                        "α predicts layer importance",
                        PAPER_RHO,
                        cond["label"],
                        "not in the plan",
                        "—",
                    ]
                )
                continue
            first_run, first = found[0]
            one = (
                f"{_bold(importance_verdict(first))}: ρ "
                f"{ci(first.get('rho'), (first.get('ci_lo'), first.get('ci_hi')))}, "
                f"Holm p = {fmt(first.get('p_holm'), 2)} ({first_run['name']})"
            )
            group = "one seed only"
            if len(found) > 1:
                held = sum(importance_verdict(row) == SUPPORTED for _, row in found)
                mean, interval = across([row.get("rho") for _, row in found])
                group = (
                    f"ρ > 0 significant in {held} of {len(found)} seeds; mean ρ "
                    f"{ci(mean, interval)}"
                )
            rows.append(["α predicts layer importance", PAPER_RHO, cond["label"], one, group])
        deep = [
            r
            for r in self.data.get("runs") or []
            if r["depth"] > self.plan["middle_depth"] and self._rho(r["name"])
        ]
        for run in sorted(deep, key=lambda r: -r["depth"]):
            row = self._rho(run["name"])
            rows.append(
                [
                    "α predicts layer importance",
                    PAPER_RHO,
                    f"{self._label(run)}, L={run['depth']}",
                    f"{_bold(importance_verdict(row))}: ρ "
                    f"{ci(row.get('rho'), (row.get('ci_lo'), row.get('ci_hi')))}, Holm p = "
                    f"{fmt(row.get('p_holm'), 2)}",
                    "one seed per depth",
                ]
            )
        return rows

    def _label(self, run: dict[str, Any]) -> str:
        return next(c["label"] for c in self.conditions if c["name"] == run["condition"])

    def _pruning_rows(self) -> list[list[str]]:
        rows = []
        runs = {r["name"]: r for r in self.data.get("runs") or []}
        for name, result in sorted(
            (self.data.get("pruning") or {}).items(), key=lambda kv: -runs[kv[0]]["depth"]
        ):
            run = runs[name]
            parts, verdicts = [], []
            for head in result.get("headline") or []:
                verdict = pruning_verdict(head)
                verdicts.append(verdict)
                ratio = ci(
                    head.get("last_n_over_spectral"),
                    (head.get("last_n_over_spectral_lo"), head.get("last_n_over_spectral_hi")),
                    2,
                )
                note = head.get("last_n_over_spectral_note")
                parts.append(f"n={head['n_removed']}: {note or ratio + '×'} ({verdict})")
            tested = [v for v in verdicts if v != UNTESTABLE]
            held = sum(v == SUPPORTED for v in tested)
            if not tested:
                overall = UNTESTABLE
            elif held == len(tested):
                overall = f"**{SUPPORTED}** at every size"
            elif held == 0:
                overall = f"{NOT_SUPPORTED} at any size"
            else:
                overall = f"supported at {held} of {len(tested)} sizes"
            rows.append(
                [
                    "Spectral pruning beats Last-N",
                    PAPER_PRUNE,
                    f"{self._label(run)}, L={run['depth']}, seed {run['seed']}",
                    f"{overall}: " + "; ".join(parts),
                    "one seed",
                ]
            )
        return rows

    def depth_sweep(self) -> None:
        self.heading("Depth sweep")
        scaling = (self.data.get("scaling") or {}).get("scaling") or {}
        sweep = {int(k): v for k, v in (self.data.get("sweep") or {}).items()}
        ref = self.groups.get(self.reference)
        if ref:
            sweep[self.plan["middle_depth"]] = seed_sections(ref)[0]
        self.paragraph(
            f"{self.conditions[0]['label']}, seed {self.plan['seeds'][0]}, one run per depth: "
            "the α profile of each depth (`report`) and the law across depths (`scaling`). "
            "Δα is the noise-shrunk amplitude of the fitted profile (docs/analysis.md)."
        )
        rows = []
        depths = scaling.get("depths") or sorted(sweep)
        for i, depth in enumerate(depths):
            prof = (sweep.get(int(depth)) or {}).get("alpha_profile") or {}
            delta = (scaling.get("delta_alpha") or [None] * len(depths))[i]
            rows.append(
                [
                    f"L={int(depth)}",
                    fmt(delta),
                    fmt((scaling.get("profile_p") or [None] * 99)[i], 2),
                    _bold(_verdict(prof.get("is_inverted_u"))),
                    ci(prof.get("vertex"), prof.get("vertex_ci"), 2),
                    ci(prof.get("curvature"), prof.get("curvature_ci"), 2),
                    _bold(_verdict(prof.get("is_persistent"))),
                ]
            )
        self.table(
            ["depth", "Δα", "profile p", "inverted U", "vertex", "curvature", "persistent"], rows
        )
        reasons = scaling.get("reasons") or {}
        self.paragraph(
            f"Scaling law: β = {ci(scaling.get('beta'), scaling.get('beta_ci'), 2)}, "
            f"c = {fmt(scaling.get('c'))}, R² = {fmt(scaling.get('r2'), 2)}, leave-one-out "
            f"error {fmt(scaling.get('loo_error'), 2)} (paper: β = {PAPER_BETA}, R² = "
            f"{PAPER_R2}). Vertex shift per ln L: "
            f"{ci(scaling.get('vertex_slope'), scaling.get('vertex_slope_ci'), 2)}."
        )
        if reasons:
            self.lines += [f"- {key}: {why}" for key, why in reasons.items()] + [""]
        self.figure(
            "scaling.png",
            "Δα vs depth, log–log: this study's points and fit, and a "
            "line of the paper's slope 0.26 through their centre.",
        )

    def importance(self) -> None:
        self.heading("Layer importance and pruning")
        self.paragraph(
            "`python -m analysis importance RUN` ablates each block on held-out data (for the "
            "synthetic corpus: the run's own validation split) and tests Spearman ρ between α and "
            "the loss increase (Holm over the block-level scores). Verdict: *supported* when "
            "ρ > 0 with Holm p < 0.05, *cannot be tested* when the CLI refuses (too few layers "
            "for p < 0.05). `prune` removes 1…N blocks by each strategy; the paper's figure is "
            "the perplexity increase of Last-N over that of the spectral choice; *supported* "
            "when the bootstrap interval of their perplexity difference puts spectral lower."
        )
        rows = []
        for name, result in (self.data.get("importance") or {}).items():
            corr = result.get("correlations") or {}
            cells = [name]
            for score in ("alpha", "alpha_rank", "stable_rank", "block_influence"):
                row = corr.get(score) or {}
                cells.append(f"{fmt(row.get('rho'), 2)} (p_Holm {fmt(row.get('p_holm'), 2)})")
            cells.append(importance_verdict(corr.get("alpha")))
            rows.append(cells)
        if rows:
            self.table(
                ["run", "ρ α", "ρ α_rank", "ρ stable rank", "ρ block influence", "α verdict"],
                rows,
            )
        for name, result in (self.data.get("pruning") or {}).items():
            self.paragraph(
                f"Pruning {name}: evaluation perplexity by strategy and blocks "
                f"removed (full model {fmt(result.get('full_perplexity'), 4)})."
            )
            by = {}
            for row in result.get("table") or []:
                if row["strategy"] != "none":
                    by.setdefault(row["strategy"], {})[row["n_removed"]] = row["perplexity"]
            sizes = sorted({n for v in by.values() for n in v})
            self.table(
                ["strategy", *(f"n={n}" for n in sizes)],
                [[s, *(fmt(v.get(n), 4) for n in sizes)] for s, v in by.items()],
            )
            heads = result.get("headline") or []
            worst = [
                ci(
                    h.get("worst_over_best"),
                    (h.get("worst_over_best_lo"), h.get("worst_over_best_hi")),
                    2,
                )
                for h in heads
            ]
            self.paragraph(
                "Oracle worst/best perplexity increase: "
                + ", ".join(f"n={h['n_removed']}: {w}" for h, w in zip(heads, worst, strict=True))
                + " (paper: up to 23.7×)."
            )
        if not rows and not self.data.get("pruning"):
            self.paragraph("No run of this plan was selected for importance or pruning.")
        self.figure(
            "pruning.png",
            "Evaluation perplexity vs blocks removed, by strategy, on the deepest pruned run.",
        )

    def noise(self) -> None:
        self.heading("Noise of real runs")
        noise = self.data.get("noise") or {}
        per_run = noise.get("runs") or {}
        self.paragraph(
            "Measured from each run's own snapshots by `analysis.stats.noise.run_noise` (every "
            "per-layer kind averaged, as the analyses average them): the per-snapshot noise SD "
            "(median over layers), the AR(1) coefficient φ of that noise in time, the "
            "correlation of adjacent layers' noise (± jackknife SE), and how its SD grows with "
            "depth (SD ∝ 1 + d·x). The stable rank's noise is relative (of its logarithm)."
        )
        rows = []
        for name, fig in per_run.items():
            if not fig:
                rows.append([name, "not computed", "", "", "", "", "", ""])
                continue
            a, s = fig.get("alpha") or {}, fig.get("stable_rank") or {}
            rows.append(
                [
                    name,
                    fmt(a.get("sd_median"), 2),
                    phi(a.get("time_corr")),
                    f"{fmt(a.get('layer_corr'), 2)} ± {fmt(a.get('layer_corr_se'), 1)}",
                    fmt(a.get("depth_sd"), 2),
                    fmt(s.get("sd_median"), 2),
                    phi(s.get("time_corr")),
                    f"{fmt(s.get('layer_corr'), 2)} ± {fmt(s.get('layer_corr_se'), 1)}",
                ]
            )
        self.table(
            [
                "run",
                "α SD",
                "α φ (time)",
                "α adjacent-layer ρ",
                "α depth d",
                "rank rel. SD",
                "rank φ",
                "rank adjacent-layer ρ",
            ],
            rows,
        )
        self._noise_by_spacing(per_run)
        unusable = {n: (f.get("alpha") or {}).get("reason") for n, f in per_run.items() if f}
        unusable = {n: why for n, why in unusable.items() if why}
        if unusable:
            self.paragraph(
                "Runs whose α noise estimate cannot correct a test: "
                + "; ".join(f"{n}: {why}" for n, why in unusable.items())
            )
        self.paragraph(
            "Seed-to-seed spread against within-run noise (median over layers): "
            "a ratio above 1 means seeds differ by more than one run's snapshot "
            "noise predicts; the excess is a fixed per-layer offset (`offset`)."
        )
        rows = []
        for cond in self.conditions:
            spread = (noise.get("seed_spread") or {}).get(cond["name"])
            if not spread:
                rows.append([cond["label"], "one seed", "", "", "", "", "", ""])
                continue
            a, o = spread.get("alpha") or {}, spread.get("onset") or {}
            rows.append(
                [
                    cond["label"],
                    str(spread.get("seeds")),
                    fmt(a.get("seed_sd_median"), 2),
                    fmt(a.get("within_se_median"), 2),
                    fmt(a.get("ratio"), 2),
                    fmt(a.get("offset_sd"), 2),
                    fmt(o.get("seed_sd_median"), 3),
                    f"{fmt(o.get('within_scatter'), 3)} (ratio {fmt(o.get('ratio'), 2)})",
                ]
            )
        self.table(
            [
                "condition",
                "seeds",
                "final α: seed SD",
                "within-run SE",
                "ratio",
                "offset SD",
                "onset: seed SD (steps)",
                "within-run onset scatter",
            ],
            rows,
        )
        sim = noise.get("simulator") or {}
        self.paragraph(
            f"Simulator noise from these runs (`analysis.calibration.simulate.Noise`, median over "
            f"the {sim.get('runs', 0)} {self.conditions[0]['label']} runs): alpha = "
            f"{fmt(sim.get('alpha'), 2)}, rank = {fmt(sim.get('rank'), 2)}, ar = "
            f"{phi(sim.get('ar_alpha'))} (α) / {phi(sim.get('ar_rank'))} (rank), "
            f"layer_corr = {fmt(sim.get('layer_corr_alpha'), 2)}, rank_layer_corr = "
            f"{fmt(sim.get('layer_corr_rank'), 2)}, depth_sd = "
            f"{fmt(sim.get('depth_sd_alpha'), 2)}. `Noise()` defaults now: "
            f"{noise.get('defaults') or 'not recorded'}."
        )
        self.figure(
            "noise.png",
            "Per-snapshot noise SD per layer of α (left) and relative noise "
            "of the stable rank (right), every run, coloured by condition.",
        )

    def _noise_by_spacing(self, per_run: dict[str, Any]) -> None:
        """Median over runs of the residual scale a k-times sparser probe sees, as a multiple
        of every snapshot's: 1 for snapshot noise, √k for noise that drifts like a random walk."""
        ratios: dict[tuple[str, int], list[float]] = {}
        for fig in per_run.values():
            for metric in ("alpha", "stable_rank"):
                fields = (fig or {}).get(metric) or {}
                base = fields.get("residual_sd_median")
                for row in fields.get("by_spacing") or []:
                    if base and row.get("residual_sd_median") is not None:
                        ratio = row["residual_sd_median"] / base
                        ratios.setdefault((metric, row["stride"]), []).append(ratio)
        strides = sorted({k for _, k in ratios})
        if not strides:
            return
        self.paragraph(
            "The same noise as a sparser probe sees it: the residual scale when only every k-th "
            "snapshot is kept, as a multiple of its scale at every snapshot (median over runs). "
            "Snapshot noise stays at 1; noise that drifts like a random walk grows as √k ("
            + ", ".join(f"{math.sqrt(k):.2f} at k = {k}" for k in strides)
            + ")."
        )
        rows = [
            [label, *[fmt(median_of_finite(ratios.get((metric, k), [])), 2) for k in strides]]
            for metric, label in (("alpha", "α"), ("stable_rank", "stable rank (log)"))
        ]
        self.table(["", *[f"k = {k}" for k in strides]], rows)

    def runs(self) -> None:
        self.heading("Runs and loss curves")
        rows = []
        for run in self.data.get("runs") or []:
            rows.append(
                [
                    run["name"],
                    str(run["depth"]),
                    str(run["seed"]),
                    f"{run['params']:,}",
                    f"{run['steps']:,}",
                    f"{run['tokens'] / 1e6:.2f}M",
                    fmt(run.get("final_loss"), 4),
                    fmt(run.get("final_val_loss"), 4),
                    fmt(run.get("bend"), 2),
                ]
            )
        self.paragraph(
            "*bend*: the loss drop over the second half of the run divided by the drop over the "
            "first half (smoothed); 1 is a straight line, a small value a curve that has clearly "
            "bent."
        )
        self.table(
            ["run", "L", "seed", "params", "steps", "tokens", "final loss", "val loss", "bend"],
            rows,
        )
        self.figure(
            "loss.png",
            "Train loss (smoothed): the depth sweep (left) and every seed of "
            "every condition at the middle depth (right).",
        )

    def cost(self, status: dict[str, Any]) -> None:
        self.heading("Cost")
        timed = [r for r in self.data.get("runs") or [] if r.get("train_seconds")]
        total = sum(r["train_seconds"] for r in timed)
        analysis = sum((self.data.get("seconds") or {}).values())
        self.paragraph(
            f"Training: {fmt_time(total)} over {len(timed)} timed runs (wall clock, start-up "
            f"included; {status.get('device', 'this machine')}). Analysis: "
            f"{fmt_time(analysis)}. Together: {fmt_time(total + analysis)}; the invocation that "
            f"wrote this page took {fmt_time(status.get('seconds', 0))} (finished runs are not "
            f"trained again)."
        )
        rows = [
            [
                r["name"],
                fmt_time(r["train_seconds"]),
                f"{(r.get('steps_timed') or r['steps']) / r['train_seconds']:.2f}",
            ]
            for r in timed
        ]
        if rows:
            self.table(["run", "wall time", "steps/s (start-up included)"], rows)

    def reproduce(self) -> None:
        self.heading("Reproduce and scale")
        self.lines += [
            "```bash",
            "make study                 # the full CPU plan (configs/study/full.yaml); resumable",
            "make study STUDY=quick     # two tiny runs, a few minutes: the plumbing, not science",
            "make study STUDY=paper     # the same plan at the paper's sizes (GPU / pod)",
            ".venv/bin/python -m scripts.study --plan full seeds=[0,1,2,3,4]   # any plan key",
            "SPECTRAL_RUN=$PWD/runs/study/adamw/L8/s0 jupyter lab notebooks/lifecycle.ipynb",
            "```",
            "",
            "Re-running resumes: finished runs (final checkpoint committed, log at the last "
            "step) are skipped without starting the trainer, an interrupted one resumes from its "
            "checkpoint, then the analysis and this page are regenerated. Plans, their keys and "
            "the SGD learning-rate choice: `configs/study/`.",
            "",
        ]

    def problems(self) -> None:
        self.heading("Problems")
        errors = self.data.get("errors") or []
        self.lines += [f"- {e}" for e in errors] if errors else ["None: every analysis ran."]
        self.lines.append("")


def _verdict(value: Any) -> str:
    return UNTESTABLE if value is None else SUPPORTED if value else NOT_SUPPORTED


def build_page(
    data: dict[str, Any], figures: dict[str, str], figure_dir: str, status: dict[str, Any]
) -> str:
    """The whole results page as Markdown."""
    return Page(data, figures, figure_dir).build(status)
