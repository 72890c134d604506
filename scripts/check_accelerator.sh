#!/usr/bin/env bash
# Check spectral-jax on this machine's accelerator, in one command:
#   scripts/check_accelerator.sh          GPU (nvidia-smi found) or TPU (a TPU VM)
#   scripts/check_accelerator.sh --cpu    a dry run of every stage on the CPU, small sizes (CI)
# Installs the matching JAX wheel into .venv, prints the devices, then runs on the device: the
# kernel accuracy tests, the pretrained parity tests, a 100-step demo probed every 25 steps, and
# bench/spectral.py and bench/train_throughput.py. Exits non-zero at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-auto}"
case "$mode" in
  --cpu) platform=cpu ;;
  auto)
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
      platform=cuda
    elif [ -e /dev/accel0 ] || [ -e /dev/vfio/0 ] || [ -n "${TPU_NAME:-}" ]; then
      platform=tpu
    else
      echo "no GPU (nvidia-smi) or TPU found; run with --cpu for a dry run" >&2
      exit 2
    fi ;;
  *) echo "usage: $0 [--cpu]" >&2; exit 2 ;;
esac

PY=.venv/bin/python
stage() { echo; echo "==> $*"; }

stage "install (platform: $platform)"
make --no-print-directory install-test  # pytest and the parity tests need the test extras
jax_version=$($PY -c 'import jax; print(jax.__version__)')
case "$platform" in
  cuda) $PY -m pip install -qq --disable-pip-version-check "jax[cuda12]==$jax_version" ;;
  tpu) $PY -m pip install -qq --disable-pip-version-check "jax[tpu]==$jax_version" ;;
esac
export JAX_PLATFORMS="$platform"

stage "devices"
$PY - "$platform" <<'PY'
import sys
import jax
want = {"cuda": "gpu", "tpu": "tpu", "cpu": "cpu"}[sys.argv[1]]
devices = jax.devices()
print(f"jax {jax.__version__}: {len(devices)} x {devices[0].device_kind} ({jax.default_backend()})")
if jax.default_backend() != want:
    sys.exit(f"expected the {want} backend, JAX runs on {jax.default_backend()}")
PY

if [ "$platform" = cpu ]; then  # dry run: every stage, small sizes
  kernel_select=(-k "rank_r")
  parity_select=(-k "neox_parity and parallel-rot0.25")  # the full set runs in make test
  demo_steps=20; demo_every=5
  spectral_args=(--layers 1 --d-model 64 --repeats 1)
  throughput_args=(--configs configs/demo.yaml --steps 2 --max-seconds 20)
else
  kernel_select=()
  parity_select=()
  demo_steps=100; demo_every=25
  spectral_args=()
  throughput_args=()
fi

stage "kernel accuracy tests"
$PY -m pytest -q -p no:cacheprovider "${kernel_select[@]}" \
  tests/spectral_jax/test_singular_values.py tests/spectral_jax/test_metrics.py \
  tests/spectral_jax/test_probe.py

stage "pretrained parity tests"
parity=(tests/spectral_jax/test_pretrained*.py)
if [ -e "${parity[0]}" ]; then
  $PY -m pytest -q -p no:cacheprovider "${parity_select[@]}" "${parity[@]}"
else
  echo "none in this checkout"
fi

stage "demo: $demo_steps steps, probe every $demo_every"
run_dir=$(mktemp -d)
trap 'rm -rf "$run_dir"' EXIT
$PY -m train --config configs/demo.yaml "run.dir=$run_dir/demo" "train.steps=$demo_steps" \
  "spectral.every=$demo_every" train.eval_every=0 train.progress=false
$PY - "$run_dir/demo" "$demo_steps" "$demo_every" <<'PY'
import sys
from spectral_jax.store import SpectraStore
run, steps, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
got, want = SpectraStore(f"{run}/spectra").steps(), list(range(0, steps + 1, every))
if got != want:
    sys.exit(f"spectra store holds steps {got}, expected {want}")
print(f"spectra store: {len(got)} snapshots, steps {got[0]}..{got[-1]}")
PY

stage "bench/spectral.py"
$PY bench/spectral.py "${spectral_args[@]}"

stage "bench/train_throughput.py"
$PY bench/train_throughput.py "${throughput_args[@]}"

echo
echo "==> all checks passed on $platform"
