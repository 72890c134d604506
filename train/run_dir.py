"""The run directory: create it, check it is writable, and guard resumes against config drift."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml

from train.config import Config, diff_configs, save_config

# Keys that may change between a run and its resumption without changing its maths.
RESUME_SAFE_KEYS = {"run.dir", "run.allow_config_change", "train.progress"}


class RunDirError(RuntimeError):
    """A run directory that cannot be used; the message names the path."""


def prepare_run_dir(config: Config, *, is_primary: bool = True) -> Path:
    """Create RUN, refuse a resume whose config differs, and write the resolved config.yaml."""
    run_dir = Path(config.run.dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise RunDirError(f"run directory {run_dir} is not writable: {err.strerror}") from None
    config_path = run_dir / "config.yaml"
    if config_path.exists():
        try:
            old = yaml.safe_load(config_path.read_text()) or {}
        except yaml.YAMLError:
            raise RunDirError(
                f"{config_path} is not valid YAML; move it away to start anew"
            ) from None
        changed = [k for k in diff_configs(old, config.to_dict()) if k not in RESUME_SAFE_KEYS]
        if changed and not config.run.allow_config_change:
            raise RunDirError(
                f"{run_dir} holds a run with a different config (keys: {', '.join(changed)}); "
                "use another run.dir or pass run.allow_config_change=true"
            )
    if is_primary:
        save_config(config, config_path)
    return run_dir
