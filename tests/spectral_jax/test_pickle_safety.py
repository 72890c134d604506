"""A PyTorch pickle is data, never code: `pytorch_model.bin` files are read only with
`torch.load(weights_only=True)`, so a checkpoint that would run code when unpickled is refused
and the code does not run (whichever path reads it: one file or a sharded index)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spectral_jax.checkpoint_files import PretrainedError, TensorFile
from spectral_jax.pretrained import load_pretrained
from spectral_jax.synthetic_checkpoints import gpt2_config

torch = pytest.importorskip("torch")


class WritesAFile:
    """Unpickling this calls `open(path, "w")`: a stand-in for any code a pickle can run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (open, (str(self.path), "w"))


def write_malicious_checkpoint(directory: Path, victim: Path, *, sharded: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(gpt2_config(2, 16, 2, 40, 8)))
    state = {"wte.weight": torch.zeros(40, 16), "payload": WritesAFile(victim)}
    if sharded:
        torch.save({"wpe.weight": torch.zeros(8, 16)}, directory / "pytorch_model-00001.bin")
        torch.save(state, directory / "pytorch_model-00002.bin")
        weight_map = {
            "wpe.weight": "pytorch_model-00001.bin",
            "wte.weight": "pytorch_model-00002.bin",
            "payload": "pytorch_model-00002.bin",
        }
        (directory / "pytorch_model.bin.index.json").write_text(
            json.dumps({"weight_map": weight_map})
        )
    else:
        torch.save(state, directory / "pytorch_model.bin")


@pytest.mark.parametrize("sharded", [False, True], ids=["pytorch_model.bin", "sharded"])
def test_a_pickle_that_runs_code_is_refused_and_the_code_never_runs(
    tmp_path: Path, sharded: bool
) -> None:
    victim = tmp_path / "written_by_the_pickle.txt"
    checkpoint = tmp_path / "checkpoint"
    write_malicious_checkpoint(checkpoint, victim, sharded=sharded)
    assert not victim.exists()
    with pytest.raises(PretrainedError, match="is not a loadable state dict") as err:
        TensorFile(checkpoint)
    assert "\n" not in str(err.value)
    assert "it holds io.open besides tensors" in str(err.value)  # names what it refused
    assert not victim.exists()
    with pytest.raises(PretrainedError, match="is not a loadable state dict"):
        load_pretrained(checkpoint)
    assert not victim.exists()


def test_a_plain_state_dict_pickle_still_loads(tmp_path: Path) -> None:
    """The refusal is about code, not pickles: tensors in plain containers load."""
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    torch.save({"wte.weight": torch.arange(12.0).reshape(3, 4)}, checkpoint / "pytorch_model.bin")
    with TensorFile(checkpoint) as files:
        assert files.format == "pytorch" and files.names() == {"wte.weight"}
        assert files.read("wte.weight").tolist()[2] == [8.0, 9.0, 10.0, 11.0]
