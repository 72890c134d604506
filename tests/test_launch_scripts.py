"""The pod launchers in scripts/: the commands they would run, without a cluster."""

from __future__ import annotations

import shlex
import subprocess

from tests.helpers import REPO


def launch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/tpu_pod.sh", *args], cwd=REPO, capture_output=True, text=True
    )


def test_tpu_pod_installs_then_trains_on_every_worker() -> None:
    proc = launch(
        "my-v4-32",
        "us-central2-b",
        "/mnt/shared/runs/x y",
        "--dry-run",
        "--",
        "--config",
        "configs/custom_285m.yaml",
        "mesh.fsdp=-1",
    )
    assert proc.returncode == 0, proc.stderr
    install, train = (shlex.split(line) for line in proc.stdout.splitlines())
    for command in (install, train):
        assert command[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "my-v4-32"]
        assert "--worker=all" in command and command[command.index("--zone") + 1] == "us-central2-b"
    assert "make install" in install[-1] and "jax[tpu]" in install[-1]
    remote = shlex.split(train[-1].split("&&", 1)[1])
    assert remote[:4] == [".venv/bin/python", "-m", "train", "--distributed"]
    assert remote[4:] == [
        "--config",
        "configs/custom_285m.yaml",
        "mesh.fsdp=-1",
        "run.dir=/mnt/shared/runs/x y",
    ]


def test_tpu_pod_without_arguments_prints_usage_and_exits_2() -> None:
    proc = launch("only-a-name")
    assert proc.returncode == 2
    assert "scripts/tpu_pod.sh TPU_NAME ZONE RUN_DIR" in proc.stderr


def test_slurm_script_is_valid_bash_and_starts_one_distributed_trainer_per_node() -> None:
    assert subprocess.run(["bash", "-n", "scripts/slurm.sbatch"], cwd=REPO).returncode == 0
    text = (REPO / "scripts" / "slurm.sbatch").read_text()
    assert "#SBATCH --ntasks-per-node=1" in text and "#SBATCH --signal=TERM@" in text
    assert 'srun .venv/bin/python -m train --distributed "$@"' in text
