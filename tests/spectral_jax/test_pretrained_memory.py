"""Loading holds one stored tensor at a time beside the model: peak resident memory added by
`load_pretrained` stays well below twice the checkpoint (measured in a fresh process, after
the runtime and the loader's code are warm)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from spectral_jax.synthetic_checkpoints import gpt2_config, write_checkpoint

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked (large) parent.
MEASURE = """
import json, re, sys
from pathlib import Path
from spectral_jax.pretrained import load_pretrained
def status(key):
    return int(re.search(key + r":\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1]) * 1024
load_pretrained(sys.argv[2])  # warm: imports, eval_shape, device arrays
before = status("VmRSS")
model, _ = load_pretrained(sys.argv[1])
print(json.dumps({"added": status("VmHWM") - before}))
"""


def test_peak_memory_is_the_model_plus_one_tensor(tmp_path: Path) -> None:
    # ~170 MB of float32: 3 layers of width 1024; the largest tensor (mlp.c_fc) is 17 MB.
    big = write_checkpoint(tmp_path / "big", gpt2_config(3, 1024, 8, 4096, 256))
    small = write_checkpoint(tmp_path / "small", gpt2_config(1, 16, 2, 32, 8))
    size = (big / "model.safetensors").stat().st_size
    assert size > 100e6
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(big), str(small)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    ).stdout
    added = json.loads(out.strip().splitlines()[-1])["added"]
    # The float32 model itself is 1x the file, plus one stored tensor and its split copies.
    assert added < 1.5 * size, f"loading added {added / size:.2f}x the checkpoint size"
