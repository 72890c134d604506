"""Shared test helpers: tiny run configs, the trainer CLI in a subprocess, TensorBoard readers.

Test modules import from here (or from fixture modules such as `tests/analysis/planted.py`),
never from one another.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from tensorboardX.proto import event_pb2
from threadpoolctl import threadpool_info

REPO = Path(__file__).resolve().parents[1]
# One XLA compilation cache for every trainer subprocess of a test session: the tiny runs
# compile the same programs again and again (about a quarter of each run's time otherwise).
# Keyed by program, flags and devices, so a cached executable is the one XLA would build.
# See tests/without_torch/torch/__init__.py.
WITHOUT_TORCH = REPO / "tests" / "without_torch"
XLA_CACHE = Path(tempfile.gettempdir()) / f"spectral-jax-tests-xla-{os.getpid()}"

# A model small enough that a step takes milliseconds on a CPU.
TINY = [
    "model.n_layers=2",
    "model.d_model=32",
    "model.n_heads=2",
    "model.d_ff=64",
    "model.vocab_size=64",
    "model.max_seq_len=32",
    "data.corpus=synthetic",
    "data.synthetic_tokens=20000",
    "train.batch_size=8",
    "train.seq_len=32",
    "train.log_every=1",
    "train.eval_every=0",
    "optim.warmup_steps=5",
    "train.progress=false",
]


def cli_env(devices: int = 1, **extra: str) -> dict[str, str]:
    """Environment for a trainer subprocess on `devices` CPU devices."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1", **extra)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(XLA_CACHE))
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    paths = [str(WITHOUT_TORCH), str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def run_cli(
    args: list[str], *, devices: int = 1, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess:
    """`python -m train ARGS` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "train", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=cli_env(devices, **env),
        timeout=timeout,
    )


def read_metrics(run_dir: Path) -> list[dict]:
    """Rows of `RUN/metrics.jsonl` (the training log), in file order."""
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def train_losses(run_dir: Path) -> dict[int, float]:
    """Training loss per logged step."""
    return {r["step"]: r["loss"] for r in read_metrics(run_dir) if "loss" in r}


def events(logdir: Path, pattern: str = "events.out.tfevents.*") -> list[event_pb2.Event]:
    """Every event in a directory of TFRecord event files, file by file in write order."""
    out = []
    for path in sorted(logdir.glob(pattern)):
        data = path.read_bytes()
        offset = 0
        while offset + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            out.append(event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length]))
            offset += 12 + length + 4
    return out


def event_tags(logdir: Path) -> set[str]:
    """Every scalar/histogram/image tag in a directory of TFRecord event files."""
    return {value.tag for event in events(logdir) for value in event.summary.value}


def tag_steps(logdir: Path, tag: str) -> list[int]:
    """The steps of every event holding `tag`, in write order."""
    return [
        event.step for event in events(logdir) for value in event.summary.value if value.tag == tag
    ]


def last_text(logdir: Path, tag: str) -> str:
    """The text summary written last under `tag`."""
    texts = [
        value.tensor.string_val[0].decode()
        for event in events(logdir)
        for value in event.summary.value
        if value.tag.startswith(tag)
    ]
    assert texts, f"no text under {tag}"
    return texts[-1]


def blas_threads() -> list[int]:
    """Thread limit of every BLAS library loaded in this process."""
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


LIFECYCLE_NOTEBOOK = REPO / "notebooks" / "lifecycle.ipynb"


def execute_lifecycle_notebook(run: Path, model: Path) -> list:
    """Run `notebooks/lifecycle.ipynb` on `run` (SPECTRAL_RUN) with `model` for its layer
    importance section (SPECTRAL_MODEL); returns every code cell's outputs, none an error."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(LIFECYCLE_NOTEBOOK, as_version=4)
    env = {
        "SPECTRAL_RUN": str(run),
        "SPECTRAL_MODEL": str(model),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits the environment when it starts
    try:
        NotebookClient(
            notebook,
            timeout=180,
            kernel_name="python3",
            resources={"metadata": {"path": str(LIFECYCLE_NOTEBOOK.parent)}},
        ).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors[0].get("evalue")
    return outputs


def free_port() -> int:
    """A TCP port nothing listens on now (for a test cluster's coordinator)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_two_processes(args: list[str], *, timeout: float = 300) -> list[tuple[int, str]]:
    """`python -m train ARGS` as processes 0 and 1 of one cluster on this host (gloo), one CPU
    device each; `(exit code, stderr)` of each. Kills both if either hangs past `timeout`."""
    cluster = ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "train", *cluster, "--process-id", str(i), *args],
            cwd=REPO,
            env=cli_env(devices=1),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        return [(proc.wait(timeout=timeout), proc.stderr.read()) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.stderr.close()


def damage_binary_files(step_dir: Path) -> list[Path]:
    """Overwrite the OCDBT files of a checkpoint (manifest and data), leaving its JSON metadata
    readable: Orbax then fails deep in its asynchronous reads, not while opening the step."""
    damaged = [
        f
        for f in sorted(step_dir.rglob("*"))
        if f.is_file() and (f.name == "manifest.ocdbt" or f.parent.name == "d")
    ]
    assert damaged, f"no OCDBT files under {step_dir}"
    for f in damaged:
        f.write_bytes(b"garbage")
    return damaged
