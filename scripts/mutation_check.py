"""Mutation check: plant known bugs one at a time in a copy of the repo and run the tests that
must catch each; print a caught/missed table.

Every entry of `MUTATIONS` names the invariant it breaks, one file, a snippet of it (which must
occur exactly once) with its replacement, and the tests that must fail on it. The check copies
the repository (without .venv, .git and caches) to a temporary directory once, then for each
mutation: patches the file, runs `python -m pytest -x -m "" TESTS` there (slow tests included),
and restores the file. A mutation is *caught* when pytest reports a failure (exit code 1),
*missed* when the tests pass (0); any other outcome (collection error, a hang past --timeout)
is reported as such and fails the check too.

Run by hand, not by `make test` (a full run takes many minutes):

    .venv/bin/python scripts/mutation_check.py                 # every mutation
    .venv/bin/python scripts/mutation_check.py --list          # what would be planted
    .venv/bin/python scripts/mutation_check.py --only NAME...  # a few, by name
    .venv/bin/python scripts/mutation_check.py --only NAME --tests tests/train  # hunt for holes

`--tests` replaces every selected mutation's own tests (to see whether some wider part of the
suite catches a new mutation before writing a dedicated test). `--baseline` first runs the
selected tests on the unmutated copy: a test that fails there cannot catch anything. The exit
status is 0 only when every selected mutation is caught. `tests/test_mutations.py` (in the
default suite) checks that every snippet still occurs once in its file, so the list cannot
silently rot when the code changes: update the snippet with the code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", "runs"
)


@dataclass(frozen=True)
class Mutation:
    """One planted bug: `original` (exactly once in `path`) becomes `mutated`."""

    name: str
    invariant: str
    path: str
    original: str
    mutated: str
    tests: tuple[str, ...]


T_INV = "tests/train/test_invariants_training.py"
T_RESUME = "tests/train/test_invariants_resume.py"
T_DATA = "tests/train/test_invariants_data.py"
S_INV = "tests/spectral_jax/test_invariants_spectra.py"
A_INV = "tests/analysis/test_invariants_decisions.py"
T_TB = "tests/train/test_invariants_tensorboard.py"
T_MP = "tests/train/test_invariants_multiprocess.py"
T_CRASH = "tests/train/test_resume.py::test_crash_then_resume_is_exact_and_consistent"

MUTATIONS: tuple[Mutation, ...] = (
    # --- the five bugs of issue 17, part 1 (and the gram floor) --------------------------
    Mutation(
        "decay-every-parameter",
        "weight decay only on matrices",
        "train/optim.py",
        "lambda p: p.ndim >= 2, params",
        "lambda p: p.ndim >= 0, params",
        (f"{T_INV}::test_weight_decay_changes_exactly_the_matrices",),
    ),
    Mutation(
        "gram-without-round-off-floor",
        "rank-r matrices have exactly min(m, n) - r zero singular values",
        "spectral_jax/singular_values.py",
        "return _floored(lam, min(m, n) * jnp.finfo(w.dtype).eps)",
        "return jnp.maximum(lam, 0.0)",
        (
            "tests/spectral_jax/test_singular_values.py::test_rank_r_matrix_has_exactly_k_minus_r_zeros",
        ),
    ),
    Mutation(
        "evaluate-on-training-tokens",
        "validation loss is measured on corpus.val",
        "train/loop.py",
        "validation_batches(\n            corpus.val,",
        "validation_batches(\n            corpus.train,",
        (f"{T_INV}::test_the_loop_evaluates_on_the_validation_split",),
    ),
    Mutation(
        "split-keeps-the-whole-document-in-train",
        "a document split partitions the text",
        "spectral_jax/documents.py",
        "return text[:cut], text[cut:]",
        "return text, text[cut:]",
        (f"{T_DATA}::test_document_split_partitions_the_text_by_lines",),
    ),
    Mutation(
        "split-skips-a-leading-line-break",
        "a document split partitions the text (a line break at index 0 counts)",
        "spectral_jax/documents.py",
        "cut = newline + 1 if newline >= 0 else cut",
        "cut = newline + 1 if newline > 0 else cut",
        (f"{T_DATA}::test_a_document_opening_with_a_blank_line_is_still_cut_at_a_line_break",),
    ),
    Mutation(
        "truncate-one-entry-too-few",
        "truncate_after(s) keeps exactly the steps <= s",
        "spectral_jax/store.py",
        "removed = [s for s in manager.all_steps() if s > step]",
        "removed = [s for s in manager.all_steps() if s > step + 1]",
        ("tests/spectral_jax/test_store.py::test_truncate_after_keeps_exactly_the_steps_up_to_it",),
    ),
    Mutation(
        "accumulated-gradients-not-averaged",
        "gradient accumulation equals one full-batch step",
        "train/step.py",
        "grads = jax.tree.map(lambda g: g / grad_accum, grads)",
        "grads = jax.tree.map(lambda g: g, grads)",
        (f"{T_INV}::test_grad_accumulation_equals_the_full_batch_without_clipping",),
    ),
    # --- exact resume -------------------------------------------------------------------
    Mutation(
        "resume-restarts-the-data",
        "exact resume: the data iterator continues where it stopped",
        "train/loop.py",
        "loader.set_state(data_state)",
        "pass",
        (f"{T_RESUME}::test_resume_equals_an_uninterrupted_run",),
    ),
    Mutation(
        "resume-resets-the-optimizer",
        "exact resume: optimizer moments are restored",
        "train/loop.py",
        "start, state, data_state = restored",
        'start, restored_state, data_state = restored\n        state = dict(restored_state, opt_state=state["opt_state"])',
        (f"{T_RESUME}::test_resume_equals_an_uninterrupted_run",),
    ),
    Mutation(
        "resume-reseeds-dropout",
        "exact resume: dropout keys depend on the step, not on the process",
        "train/loop.py",
        "dropout=config.model.dropout > 0,\n        seed=config.run.seed,",
        "dropout=config.model.dropout > 0,\n        seed=config.run.seed + start,",
        (f"{T_RESUME}::test_resume_equals_an_uninterrupted_run",),
    ),
    Mutation(
        "rewind-drops-the-checkpointed-step",
        "exact resume: the training log keeps the rows up to the checkpoint",
        "train/rewind.py",
        'if row.get("step", -1) <= step:',
        'if row.get("step", -1) < step:',
        ("tests/train/test_rewind.py::test_rewind_keeps_exactly_the_steps_up_to_it_everywhere",),
    ),
    Mutation(
        "resume-rewrites-the-kept-snapshot",
        "exact resume: the restored step's snapshot is not written twice",
        "train/spectra_sink.py",
        "if step not in self._already_written:",
        "if True:",
        (f"{T_RESUME}::test_resume_equals_an_uninterrupted_run",),
    ),
    Mutation(
        "truncate-keeps-stale-index-records",
        "exact resume: truncation removes index records past the step",
        "spectral_jax/store.py",
        'records[records["step"] <= step].tofile(tmp)',
        "records.tofile(tmp)",
        ("tests/spectral_jax/test_store.py::test_truncate_after_keeps_exactly_the_steps_up_to_it",),
    ),
    # --- no spectra gap after a crash ----------------------------------------------------
    Mutation(
        "checkpoint-before-spectra-are-written",
        "no spectra gap: a checkpoint waits for every entry before it",
        "train/loop.py",
        "        self.s.monitor.wait_for_entries_before(step)\n",
        "",
        ("tests/train/test_monitor.py::test_checkpoint_waits_for_the_spectra_before_it",),
    ),
    Mutation(
        "sink-wait-returns-at-once",
        "no spectra gap: waiting for entries waits for the writer",
        "train/spectra_sink.py",
        "lambda: self._failure is not None or all(s >= step for s in self._unwritten),",
        "lambda: True,",
        ("tests/train/test_monitor.py::test_checkpoint_waits_for_the_spectra_before_it",),
    ),
    Mutation(
        "rewind-spectral-events-by-step",
        "no spectra gap: spectral TensorBoard events follow the store",
        "train/rewind.py",
        "filter_event_file(path, kept_spectra.__contains__)",
        "filter_event_file(path, lambda s: s <= step)",
        ("tests/train/test_rewind.py::test_spectral_events_follow_the_store_not_the_step",),
    ),
    Mutation(
        "checkpoint-before-the-log-is-flushed",
        "no gap: a checkpoint waits for the training log and its TensorBoard events",
        "train/loop.py",
        "        self.s.training_log.flush()\n",
        "",
        (f"{T_CRASH}[at-a-checkpoint]",),
    ),
    Mutation(
        "checkpoint-before-its-step-is-logged",
        "no gap: the checkpointed step's log row is written before the checkpoint",
        "train/loop.py",
        "                self._drain()  # never checkpoint a non-finite state\n",
        "",
        (f"{T_CRASH}[at-a-checkpoint]",),
    ),
    # --- the probe schedule ---------------------------------------------------------------
    Mutation(
        "no-probe-at-the-last-step",
        "probe schedule: step 0, every `every` steps and the last step",
        "train/callbacks.py",
        "return step % self.every == 0 or step == self.last",
        "return step % self.every == 0",
        ("tests/train/test_monitor.py::test_probe_steps_values_and_tensorboard",),
    ),
    Mutation(
        "no-probe-at-step-0",
        "probe schedule: the initialisation is probed",
        "train/loop.py",
        "        s.callbacks.inside_step(s.start, s.state)\n        for step",
        "        for step",
        ("tests/train/test_monitor.py::test_probe_steps_values_and_tensorboard",),
    ),
    Mutation(
        "history-dated-from-the-restored-step",
        "probe schedule: a settings change applies from the first step the resumed run writes",
        "train/monitor.py",
        "first = step if self.schedule(step) and step not in kept_steps else step + 1",
        "first = step",
        (f"{T_RESUME}::test_resume_equals_an_uninterrupted_run",),
    ),
    # --- matrix naming --------------------------------------------------------------------
    Mutation(
        "q-and-k-swapped",
        "matrix naming: (layer, 'q') is the query projection",
        "spectral_jax/matrices.py",
        '"q": block.attn.q,\n            "k": block.attn.k,',
        '"q": block.attn.k,\n            "k": block.attn.q,',
        (f"{S_INV}::test_each_name_is_the_matrix_of_that_projection",),
    ),
    Mutation(
        "mlp-in-and-gate-swapped",
        "matrix naming: mlp_in and mlp_gate of a SwiGLU MLP",
        "spectral_jax/matrices.py",
        '"mlp_in": block.mlp.mlp_in,\n            "mlp_gate": block.mlp.mlp_gate,',
        '"mlp_in": block.mlp.mlp_gate,\n            "mlp_gate": block.mlp.mlp_in,',
        (f"{S_INV}::test_each_name_is_the_matrix_of_that_projection",),
    ),
    Mutation(
        "probe-layers-descending",
        "matrix naming: each kind's layers in ascending order",
        "spectral_jax/probe.py",
        "layers = {kind: sorted(layer for layer, k in named if k == kind) for kind in kinds}",
        "layers = {kind: sorted((l for l, k in named if k == kind), reverse=True) for kind in kinds}",
        ("tests/spectral_jax/test_probe.py::test_layout_and_values_match_per_matrix_computation",),
    ),
    Mutation(
        "tensorboard-layers-reversed",
        "matrix naming: TensorBoard tag L<l> holds layer l's value",
        "train/tensorboard.py",
        "zip(self.layers[kind], np.asarray(values).tolist(), strict=True)",
        "zip(self.layers[kind][::-1], np.asarray(values).tolist(), strict=True)",
        (f"{T_TB}::test_each_tag_holds_its_own_layers_value",),
    ),
    Mutation(
        "heatmap-layer-0-at-the-top",
        "matrix naming: heatmaps draw layer 0 at the bottom",
        "train/tensorboard.py",
        "panels.append(np.repeat(rgb[::-1], CELL, axis=0))",
        "panels.append(np.repeat(rgb, CELL, axis=0))",
        (f"{T_TB}::test_heatmaps_draw_layer_0_at_the_bottom",),
    ),
    Mutation(
        "frame-layers-reversed",
        "matrix naming: metrics_frame rows carry their own layer",
        "spectral_jax/store.py",
        '"layer": np.tile(layers, len(steps)).astype(np.int64),',
        '"layer": np.tile(layers[::-1], len(steps)).astype(np.int64),',
        (f"{S_INV}::test_metrics_frame_labels_each_value_with_its_step_layer_and_kind",),
    ),
    # --- metric definitions ---------------------------------------------------------------
    Mutation(
        "entropy-not-normalised",
        "metric definitions: entropy is divided by ln k",
        "spectral_jax/metrics.py",
        "-_xlogx(p).sum(-1) / jnp.log(max(k, 2))",
        "-_xlogx(p).sum(-1)",
        ("tests/spectral_jax/test_metrics.py",),
    ),
    Mutation(
        "effective-rank-of-squares",
        "metric definitions: effective rank uses q = σ/Σσ",
        "spectral_jax/metrics.py",
        "jnp.exp(-_xlogx(q).sum(-1))",
        "jnp.exp(-_xlogx(p).sum(-1))",
        ("tests/spectral_jax/test_metrics.py",),
    ),
    Mutation(
        "stable-rank-of-sigma",
        "metric definitions: stable rank is Σσ²/σ1²",
        "spectral_jax/metrics.py",
        "sum_lam / (safe_s1 * safe_s1)",
        "sum_s / safe_s1",
        ("tests/spectral_jax/test_metrics.py",),
    ),
    Mutation(
        "metrics-without-numerical-rank",
        "metric definitions: σ ≤ k·ε·σ1 count as zero",
        "spectral_jax/metrics.py",
        "s = jnp.where(s > k * jnp.finfo(jnp.float32).eps * s1[..., None], s, 0.0)",
        "s = s",
        (f"{S_INV}::test_round_off_below_the_numerical_rank_counts_as_zero",),
    ),
    Mutation(
        "alpha-rank-without-floor",
        "metric definitions: alpha_rank fits ranks with σ > 1e-3·σ1 only",
        "spectral_jax/metrics.py",
        "use = s > RANK_FIT_FLOOR * s1[..., None]",
        "use = s > 0",
        (f"{S_INV}::test_alpha_rank_ignores_values_below_its_floor",),
    ),
    Mutation(
        "metrics-assume-descending-input",
        "metric definitions: σ in any order give the same metrics",
        "spectral_jax/metrics.py",
        "sigma = -jnp.sort(-sigma, axis=-1)",
        "sigma = sigma",
        (f"{S_INV}::test_metrics_do_not_depend_on_the_order_of_sigma",),
    ),
    Mutation(
        "alpha-mle-without-one",
        "metric definitions: α = 1 + n / Σ ln(λ/xmin)",
        "spectral_jax/powerlaw.py",
        "alpha = 1.0 + n / jnp.where(candidate, denom, 1.0)",
        "alpha = n / jnp.where(candidate, denom, 1.0)",
        ("tests/spectral_jax/test_powerlaw.py",),
    ),
    Mutation(
        "ks-mean-not-max",
        "metric definitions: xmin minimises the KS distance (a maximum)",
        "spectral_jax/powerlaw.py",
        "ks = jnp.where(candidate, dist.max(axis=1), jnp.inf)",
        "ks = jnp.where(candidate, dist.mean(axis=1), jnp.inf)",
        ("tests/spectral_jax/test_powerlaw.py",),
    ),
    Mutation(
        "alpha-fit-on-sigma",
        "metric definitions: α is fitted to the eigenvalues λ = σ²",
        "spectral_jax/metrics.py",
        "fit = fit_power_law(lam)",
        "fit = fit_power_law(s)",
        ("tests/spectral_jax/test_powerlaw.py",),
    ),
    # --- per-process data sharding --------------------------------------------------------
    Mutation(
        "every-process-reads-the-same-rows",
        "data sharding: process p reads its own rows of each global batch",
        "train/data.py",
        "lo, hi = process_index * local, (process_index + 1) * local",
        "lo, hi = 0, local",
        ("tests/train/test_data.py::test_process_shards_union_to_the_global_batch",),
    ),
    Mutation(
        "shuffle-seeded-per-process",
        "data sharding: every process shuffles the same global order",
        "train/data.py",
        ".shuffle(seed=seed)",
        ".shuffle(seed=seed + process_index)",
        ("tests/train/test_data.py::test_process_shards_union_to_the_global_batch",),
    ),
    Mutation(
        "validation-rows-not-sharded",
        "data sharding: validation batches are split across processes",
        "train/data.py",
        "ids = ids[process_index * local : (process_index + 1) * local]",
        "ids = ids[:local]",
        (f"{T_DATA}::test_validation_shards_union_to_the_single_process_batches",),
    ),
    Mutation(
        "loop-train-loader-as-process-0",
        "data sharding: the loop gives the loader its process index",
        "train/loop.py",
        "config.run.seed,\n        process_index=jax.process_index(),",
        "config.run.seed,\n        process_index=0,",
        ("tests/train/test_multiprocess.py::test_two_processes_train_like_one",),
    ),
    Mutation(
        "loop-validation-as-process-0",
        "data sharding: the loop gives validation its process index",
        "train/loop.py",
        "tcfg.eval_batches,\n            process_index=jax.process_index(),",
        "tcfg.eval_batches,\n            process_index=0,",
        (f"{T_MP}::test_two_processes_validate_like_one",),
    ),
    # --- issue 21: failures a user meets, and what the trainer reports ----------------------
    Mutation(
        "pickle-loaded-unsafely",
        "pickle safety: a PyTorch checkpoint is read as data, never as code",
        "spectral_jax/checkpoint_files.py",
        "weights_only=True, mmap=True",
        "weights_only=False, mmap=True",
        (
            "tests/spectral_jax/test_pickle_safety.py::"
            "test_a_pickle_that_runs_code_is_refused_and_the_code_never_runs",
        ),
    ),
    Mutation(
        "corrupt-checkpoint-falls-back-to-the-oldest",
        "checkpoint fallback: past a corrupt latest checkpoint, the newest older one restores",
        "train/checkpoint.py",
        "newest_first = sorted(self.manager.all_steps(), reverse=True)",
        "newest_first = sorted(self.manager.all_steps(), reverse=True)[:1] + sorted("
        "self.manager.all_steps())[:-1]",
        (
            "tests/train/test_checkpoint.py::"
            "test_the_newest_readable_checkpoint_is_restored_and_newer_ones_moved_aside",
            "tests/train/test_resume.py::"
            "test_corrupt_latest_checkpoint_falls_back_to_the_newest_older_one",
        ),
    ),
    Mutation(
        "failed-restore-leaves-reads-behind",
        "checkpoint fallback: a failed restore ends its reads (no tracebacks from a closed loop)",
        "train/checkpoint.py",
        "with draining_event_loops(), _library_logs_quiet():",
        "with _library_logs_quiet():",
        ("tests/train/test_checkpoint.py::test_a_failed_restore_leaves_no_reads_behind",),
    ),
    Mutation(
        "store-refresh-keeps-the-cache",
        "spectra store: after refresh() every read sees the entries written since",
        "spectral_jax/store.py",
        '"""Forget cached reads (to see steps a live run wrote since)."""\n        self._cache = None',
        '"""Forget cached reads (to see steps a live run wrote since)."""\n        pass',
        ("tests/spectral_jax/test_store.py::test_reader_sees_a_live_writer",),
    ),
    Mutation(
        "memory-logits-at-the-compute-dtype",
        "memory report: each activation counted at the size of the dtype it is computed in",
        "train/memory.py",
        "logits = tokens * 3 * model_cfg.vocab_size * FLOAT32_BYTES",
        "logits = tokens * 3 * model_cfg.vocab_size * itemsize",
        (
            "tests/train/test_memory.py::"
            "test_activation_bytes_use_the_dtype_each_part_is_computed_in",
        ),
    ),
    Mutation(
        "log-every-zero-accepted",
        "config: every size or count is positive unless 0 has a documented meaning",
        "train/config.py",
        "log_every: int = Field(10, gt=0)",
        "log_every: int = Field(10, ge=0)",
        ("tests/train/test_config.py::test_every_size_like_key_must_be_positive",),
    ),
    Mutation(
        "hub-error-cut-short",
        "messages: a library's error is quoted whole, not cut mid-word",
        "spectral_jax/checkpoint_files.py",
        'reason = " ".join(str(err).split())  # whole',
        'reason = " ".join(str(err).split()).split(". ")[0][:160]  # whole',
        ("tests/spectral_jax/test_pretrained_errors.py::test_hub_errors_are_quoted_whole",),
    ),
    # --- importance and pruning -------------------------------------------------------------
    Mutation(
        "pruning-direction-on-evaluation-half",
        "analysis: every pruning choice is made on the calibration half, scored on the other",
        "analysis/importance/pruning.py",
        "directions[name] = direction(spectral[column].to_numpy(), delta_cal, column)",
        "directions[name] = direction(spectral[column].to_numpy(), "
        "(lambda e: e[1:] - e[0])(evaluator.losses(data.evaluation, masks).mean(1)), column)",
        ("tests/analysis/importance/test_pruning.py::test_no_choice_reads_the_evaluation_half",),
    ),
    # --- analysis decisions ---------------------------------------------------------------
    Mutation(
        "inverted-u-union-test",
        "analysis: an inverted U needs α to rise at x = 0 and fall at x = 1 (both tests)",
        "analysis/lifecycle/quadratic.py",
        "p_inverted_u=np.maximum(p_left, p_right),",
        "p_inverted_u=np.minimum(p_left, p_right),",
        (f"{A_INV}::test_a_concave_profile_peaking_beyond_the_last_layer_is_not_an_inverted_u",),
    ),
    Mutation(
        "inverted-u-from-the-point-estimate",
        "analysis: an inverted U is a test's verdict, not the fitted curvature's sign",
        "analysis/lifecycle/profile.py",
        "is_inverted_u = bool(fit.p_inverted_u < ALPHA)",
        "is_inverted_u = bool(fit.curvature < 0 and 0 < fit.vertex < 1)",
        (f"{A_INV}::test_a_curvature_within_the_noise_is_not_an_inverted_u",),
    ),
    Mutation(
        "scaling-loo-in-sample",
        "analysis: the scaling law's error is out of sample",
        "analysis/lifecycle/scaling.py",
        "held = ~np.eye(n, dtype=bool)",
        "held = np.ones((n, n), dtype=bool)",
        (f"{A_INV}::test_scaling_error_is_leave_one_out",),
    ),
    Mutation(
        "two-timescale-verdict-upper-end",
        "analysis: a ratio above 1 needs its interval's lower end above 1",
        "analysis/report/findings.py",
        "bool(ratio_ci[0] > 1)",
        "bool(ratio_ci[1] > 1)",
        (
            "tests/analysis/report/test_findings.py::test_each_verdict_reads_the_end_of_its_interval_that_decides_it",
        ),
    ),
    Mutation(
        "settle-step-off-by-one",
        "analysis: a profile settles at the snapshot after the last one above the tolerance",
        "analysis/lifecycle/persistence.py",
        "int(last[-1]) + 1 if len(last) else 0",
        "int(last[-1]) if len(last) else 0",
        (
            "tests/analysis/lifecycle/test_profile.py::test_settle_step_is_the_first_snapshot_from_which_the_shape_stays_within_tolerance",
        ),
    ),
)


def select(names: Sequence[str] | None) -> list[Mutation]:
    """The mutations named (all when `names` is empty); an unknown name is an error."""
    if not names:
        return list(MUTATIONS)
    by_name = {m.name: m for m in MUTATIONS}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown mutation '{unknown[0]}' (see --list)")
    return [by_name[n] for n in names]


def copy_repo(source: Path, dest: Path) -> Path:
    """A copy of the working tree (sources, tests, configs) without the venv and caches."""
    shutil.copytree(source, dest, ignore=IGNORED, symlinks=True)
    return dest


def plant(root: Path, mutation: Mutation) -> str:
    """Apply `mutation` under `root`; returns the file's original text (to restore it)."""
    path = root / mutation.path
    text = path.read_text()
    count = text.count(mutation.original)
    if count != 1:
        raise ValueError(
            f"{mutation.name}: the snippet occurs {count} times in {mutation.path} (must be once)"
        )
    path.write_text(text.replace(mutation.original, mutation.mutated))
    return text


def run_tests(root: Path, tests: Sequence[str], timeout: float) -> tuple[int | None, str]:
    """`pytest -x` on `tests` in `root` (slow ones included); (exit code or None, output)."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-m", "", "-p", "no:cacheprovider"]
    try:
        proc = subprocess.run(
            [*cmd, *tests], cwd=root, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        return None, out
    return proc.returncode, proc.stdout + proc.stderr


def verdict(code: int | None) -> str:
    if code is None:
        return "TIMEOUT"
    return {0: "MISSED", 1: "caught"}.get(code, f"ERROR (pytest exit {code})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these mutations only")
    parser.add_argument("--tests", nargs="+", metavar="TEST", help="run these tests instead")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--baseline", action="store_true", help="check the tests pass unmutated")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per mutation")
    parser.add_argument("-v", "--verbose", action="store_true", help="print pytest's output")
    args = parser.parse_args(argv)
    chosen = select(args.only)
    if args.list:
        for m in chosen:
            print(f"{m.name:44s} {m.path:34s} {m.invariant}")
            for test in m.tests:
                print(f"{'':44s}   {test}")
        return 0
    results: list[tuple[Mutation, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="mutation-check-") as tmp:
        root = copy_repo(REPO, Path(tmp) / "repo")
        if args.baseline:
            tests = sorted({t for m in chosen for t in (args.tests or m.tests)})
            code, out = run_tests(root, tests, args.timeout)
            if code != 0:
                print(out[-4000:])
                print(f"baseline: the selected tests do not pass unmutated ({verdict(code)})")
                return 2
            print(f"baseline: {len(tests)} test selections pass unmutated")
        for m in chosen:
            start = time.perf_counter()
            try:
                original = plant(root, m)
            except ValueError as err:
                results.append((m, f"STALE ({err})", 0.0))
                continue
            try:
                code, out = run_tests(root, args.tests or m.tests, args.timeout)
            finally:
                (root / m.path).write_text(original)
            seconds = time.perf_counter() - start
            results.append((m, verdict(code), seconds))
            print(f"{verdict(code):8s} {seconds:6.0f} s  {m.name}", flush=True)
            if args.verbose or code not in (0, 1):
                print(out[-3000:])
    width = max(len(m.name) for m, _, _ in results)
    print(f"\n{'mutation':{width}s}  {'invariant':58s}  result")
    for m, result, seconds in results:
        print(f"{m.name:{width}s}  {m.invariant[:58]:58s}  {result} ({seconds:.0f} s)")
    caught = sum(result == "caught" for _, result, _ in results)
    print(f"\ncaught {caught} of {len(results)} planted bugs")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
