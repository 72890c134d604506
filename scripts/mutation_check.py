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
        ("tests/spectral_jax/test_singular_values.py::test_rank_r_matrix_has_exactly_k_minus_r_zeros",),
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
        "train/corpora.py",
        "return text[:cut], text[cut:]",
        "return text, text[cut:]",
        (f"{T_DATA}::test_document_split_partitions_the_text_by_lines",),
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
