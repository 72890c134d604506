#!/usr/bin/env bash
# Launch a spectral-jax run on every worker of a TPU VM pod slice.
#
#   scripts/tpu_pod.sh TPU_NAME ZONE RUN_DIR [--dry-run] -- [train args ...]
#   scripts/tpu_pod.sh my-v4-32 us-central2-b /mnt/shared/runs/285m -- \
#       --config configs/custom_285m.yaml mesh.fsdp=-1
#
# Every worker needs this checkout at ~/spectral-jax (clone it there first, e.g. with the same
# gcloud ... --worker=all --command "git clone ..."), and RUN_DIR must be storage that every
# worker sees (a Filestore/NFS mount): Orbax writes checkpoints from every host. The script
# (1) installs the venv and the TPU JAX wheel on every worker, then (2) starts the same trainer
# command on every worker with --distributed (JAX discovers the pod's topology). Re-running it
# resumes the run; a preempted run (SIGTERM) has checkpointed on every host first.
# --dry-run prints the two gcloud commands instead of running them.
set -euo pipefail

if [ $# -lt 3 ]; then
  sed -n '2,4p' "$0" >&2
  exit 2
fi
tpu=$1 zone=$2 run_dir=$3
shift 3
dry_run=false
if [ "${1:-}" = "--dry-run" ]; then dry_run=true; shift; fi
if [ "${1:-}" = "--" ]; then shift; fi

quoted_args=$(printf ' %q' "$@")
install="cd ~/spectral-jax && make install && .venv/bin/pip install -qq -U 'jax[tpu]'"
train="cd ~/spectral-jax && .venv/bin/python -m train --distributed${quoted_args} run.dir=$(printf '%q' "$run_dir")"

for command in "$install" "$train"; do
  cmd=(gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command "$command")
  if $dry_run; then
    printf '%q ' "${cmd[@]}"; echo
  else
    "${cmd[@]}"
  fi
done
