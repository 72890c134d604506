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
    for name, extra in [("one", ["mesh.data=1"]), ("four", ["mesh.data=4"]),
                        ("accum", ["mesh.data=4", "train.grad_accum=2"])]:
        cfg = load_config(None, [*json.loads(sys.argv[1]), *extra,
                                 "run.dir=" + sys.argv[2] + "/" + name])
        train(cfg)
        out[name] = [r["loss"] for r in read_metrics(pathlib.Path(cfg.run.dir))]
    out["devices"] = jax.device_count()
    print("RESULT" + json.dumps(out))
    """
)


def test_one_vs_four_devices_and_grad_accum(tmp_path: Path) -> None:
    args = [*TINY, "train.steps=12", "spectral.every=0", "optim.lr=1e-2"]
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(args), str(tmp_path)],
        cwd=REPO,
        env=cli_env(devices=4),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    out = json.loads(line[len("RESULT") :])
    assert out["devices"] == 4
    one, four, accum = (np.array(out[k]) for k in ("one", "four", "accum"))
    assert one.shape == four.shape == accum.shape == (12,)
    # Same maths, different reduction order across devices: float32 round-off only.
    np.testing.assert_allclose(four, one, rtol=2e-5, atol=0)
    np.testing.assert_allclose(accum, one, rtol=2e-5, atol=0)
    assert one[-1] < one[0]
