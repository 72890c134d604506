"""Data parallelism: 1 and 4 simulated CPU devices train to the same numbers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from tests.helpers import REPO, TINY, cli_env

SCRIPT = textwrap.dedent(
    """
    import json, pathlib, sys
    import jax, numpy as np
    from train.config import load_config
    from train.loop import train
    from tests.helpers import read_metrics

    out = {}
    runs = {"one": [], "four": ["mesh.data=4"], "accum": ["mesh.data=4", "train.grad_accum=2"]}
    for name in sys.argv[3].split(","):
        cfg = load_config(None, [*json.loads(sys.argv[1]), *runs[name],
                                 "run.dir=" + sys.argv[2] + "/" + name])
        train(cfg)
        out[name] = [r["loss"] for r in read_metrics(pathlib.Path(cfg.run.dir))]
    out["devices"] = jax.device_count()
    print("RESULT" + json.dumps(out))
    """
)


def run_script(args: list[str], run_dir: Path, names: str, devices: int) -> dict:
    """The runs `names` (comma-separated) in one process on `devices` CPU devices (the mesh
    spans every device, so one device needs a process of its own)."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(args), str(run_dir), names],
        cwd=REPO,
        env=cli_env(devices=devices),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    out = json.loads(line[len("RESULT") :])
    assert out["devices"] == devices
    return out


def test_one_vs_four_devices_and_grad_accum(tmp_path: Path) -> None:
    args = [*TINY, "train.steps=12", "spectral.every=0", "optim.lr=1e-2"]
    out = {**run_script(args, tmp_path, "one", 1), **run_script(args, tmp_path, "four,accum", 4)}
    one, four, accum = (np.array(out[k]) for k in ("one", "four", "accum"))
    assert one.shape == four.shape == accum.shape == (12,)
    # Same maths, different reduction order across devices: float32 round-off only.
    np.testing.assert_allclose(four, one, rtol=2e-5, atol=0)
    np.testing.assert_allclose(accum, one, rtol=2e-5, atol=0)
    assert one[-1] < one[0]
