"""The run directory: an exclusive lock and the guard against config drift (its layout is
`spectral_jax.run_layout`, shared with the analysis)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import yaml

from spectral_jax.run_layout import CONFIG_FILE, LOCK_FILE
from train.config import Config, diff_configs, save_config

__all__ = ["RESUME_SAFE_KEYS", "RunDirBusyError", "RunDirError", "open_run_dir"]

# Keys that may change between a run and its resumption without changing its maths.
# The mesh only lays the same state out differently: a checkpoint restores onto any mesh shape.
RESUME_SAFE_KEYS = {
    "run.dir",
    "run.allow_config_change",
    "train.progress",
    "mesh.data",
    "mesh.fsdp",
}


class RunDirError(RuntimeError):
    """A run directory that cannot be used; the message names the path."""


class RunDirBusyError(RunDirError):
    """Another live trainer holds the run directory's lock."""


@contextlib.contextmanager
def open_run_dir(config: Config, *, is_primary: bool = True) -> Iterator[Path]:
    """Create RUN, hold its lock (process 0) for the `with` block, refuse a resume whose config
    differs, and write the resolved config.yaml."""
    run_dir = Path(config.run.dir)
    _make_writable(run_dir)
    with _exclusive_lock(run_dir) if is_primary else contextlib.nullcontext():
        _check_config(config, run_dir)
        if is_primary:
            save_config(config, run_dir / CONFIG_FILE)
        yield run_dir


def _make_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise RunDirError(f"run directory {run_dir} is not writable: {err.strerror}") from None


@contextlib.contextmanager
def _exclusive_lock(run_dir: Path) -> Iterator[None]:
    """An advisory `flock` on RUN/.lock. The kernel releases it when its holder exits, however
    it dies, so a lock file left by a killed trainer is simply taken over."""
    path = run_dir / LOCK_FILE
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunDirBusyError(
                f"run directory {run_dir} is in use by {holder} (lock {path}); "
                "wait for that run to end or use another run.dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def changed_keys(config: Config, run_dir: Path) -> list[str]:
    """The keys whose values differ between `config` and the run already in `run_dir` (none when
    there is no run yet), leaving out those a resume may change (`RESUME_SAFE_KEYS`)."""
    config_path = run_dir / CONFIG_FILE
    if not config_path.exists():
        return []
    try:
        old = yaml.safe_load(config_path.read_text()) or {}
    except yaml.YAMLError:
        raise RunDirError(f"{config_path} is not valid YAML; move it away to start anew") from None
    return [k for k in diff_configs(old, config.to_dict()) if k not in RESUME_SAFE_KEYS]


def _check_config(config: Config, run_dir: Path) -> None:
    changed = changed_keys(config, run_dir)
    if changed and not config.run.allow_config_change:
        raise RunDirError(
            f"{run_dir} holds a run with a different config (keys: {', '.join(changed)}); "
            "use another run.dir or pass run.allow_config_change=true"
        )
