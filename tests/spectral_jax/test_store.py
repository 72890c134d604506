"""Spectra store: round trips, truncation, torn/unfinished writes, reader errors."""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from spectral_jax.store import (
    SCHEMA_VERSION,
    SpectraStore,
    SpectraWriter,
    StoreError,
    truncate_after,
)

METRICS = ["stable_rank", "alpha"]


def meta(save_sigma: bool = True) -> dict:
    return {
        "metrics_version": 1,
        "model": {"layers": 3},
        "kinds": ["embed", "q"],
        "layers": {"embed": [-1], "q": [0, 1, 2]},
        "shapes": {"embed": [10, 4], "q": [4, 6]},
        "metrics": METRICS,
        "save_sigma": save_sigma,
    }


def entry(step: int, save_sigma: bool = True) -> dict:
    rng = np.random.default_rng(step)
    out = {
        "metrics": {
            m: {"embed": rng.random(1, np.float32), "q": rng.random(3, np.float32)} for m in METRICS
        }
    }
    if save_sigma:
        out["sigma"] = {
            "embed": rng.random((1, 4), np.float32),
            "q": rng.random((3, 4), np.float32),
        }
    return out


def write(path: Path, steps: list[int], save_sigma: bool = True) -> None:
    writer = SpectraWriter(path, meta(save_sigma))
    for s in steps:
        writer.write(s, entry(s, save_sigma))
    writer.close()


@pytest.mark.parametrize("save_sigma", [True, False])
def test_round_trip(tmp_path: Path, save_sigma: bool) -> None:
    write(tmp_path, [50, 0, 25], save_sigma)
    store = SpectraStore(tmp_path)
    assert store.steps() == [0, 25, 50]
    assert store.meta["schema_version"] == SCHEMA_VERSION
    for s in (0, 25, 50):
        got, want = store.load(s), entry(s, save_sigma)
        for m in METRICS:
            np.testing.assert_array_equal(got["metrics"][m]["q"], want["metrics"][m]["q"])
        if save_sigma:
            np.testing.assert_array_equal(got["sigma"]["embed"], want["sigma"]["embed"])
        else:
            assert "sigma" not in got
    frame = store.metrics_frame()
    assert list(frame.columns[:3]) == ["step", "layer", "kind"]
    assert len(frame) == 3 * 4
    row = frame[(frame.step == 25) & (frame.kind == "q") & (frame.layer == 2)]
    assert row["alpha"].item() == pytest.approx(float(entry(25)["metrics"]["alpha"]["q"][2]))
    assert set(frame[frame.kind == "embed"].layer) == {-1}
    if save_sigma:
        sigma = store.sigma("q")
        assert sigma.shape == (3, 3, 4)
        np.testing.assert_array_equal(sigma[1], entry(25)["sigma"]["q"])
    else:
        with pytest.raises(StoreError, match="save_sigma=false"):
            store.sigma("q")


def test_loads_from_orbax_alone_when_index_is_lost(tmp_path: Path) -> None:
    write(tmp_path, [0, 25])
    (tmp_path / "index.bin").unlink()
    store = SpectraStore(tmp_path)
    np.testing.assert_array_equal(store.load(25)["sigma"]["q"], entry(25)["sigma"]["q"])
    assert len(store.metrics_frame()) == 8


def test_truncate_after_keeps_exactly_the_steps_up_to_it(tmp_path: Path) -> None:
    """Entries at s, s+1 and s+2: exactly the steps ≤ s stay, in the index, on disk and in
    `steps()`, and a writer can then write s+1 again (Orbax refuses an existing step)."""
    write(tmp_path, [0, 25, 26, 27])
    assert truncate_after(tmp_path, 25) == [26, 27]
    on_disk = sorted(int(p.name) for p in (tmp_path / "steps").iterdir() if p.name.isdigit())
    assert on_disk == [0, 25]
    index = np.fromfile(tmp_path / "index.bin", dtype=SpectraStore(tmp_path)._dtype)
    assert index["step"].tolist() == [0, 25]
    assert SpectraStore(tmp_path).steps() == [0, 25]
    writer = SpectraWriter(tmp_path, meta())
    writer.write(26, entry(26))
    writer.close()
    store = SpectraStore(tmp_path)
    assert store.steps() == [0, 25, 26]
    np.testing.assert_array_equal(store.load(26)["sigma"]["q"], entry(26)["sigma"]["q"])
    assert len(store.metrics_frame()) == 12


def test_torn_index_tail_and_unfinished_entry_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Skipped quietly: a reader of a live run meets the entry being written now and then
    (expected, so a debug log line, not a warning on every such read)."""
    write(tmp_path, [0, 25])
    with (tmp_path / "index.bin").open("ab") as f:
        f.write(b"\x01\x02\x03")  # a record cut short by a crash
    shutil.copytree(tmp_path / "steps" / "25", tmp_path / "steps" / "50.orbax-checkpoint-tmp-123")
    with warnings.catch_warnings(), caplog.at_level(logging.DEBUG, logger="spectral_jax.store"):
        warnings.simplefilter("error")
        store = SpectraStore(tmp_path)
        assert store.steps() == [0, 25]
        assert len(store.metrics_frame()) == 8
    skipped = [
        r for r in caplog.records if "skipping unfinished entries for steps 50" in r.msg % r.args
    ]
    assert skipped and all(r.levelno == logging.DEBUG for r in skipped)


def test_index_record_without_finalised_entry_is_ignored(tmp_path: Path) -> None:
    write(tmp_path, [0, 25])
    shutil.rmtree(tmp_path / "steps" / "25")  # as if the crash hit before Orbax finalised it
    store = SpectraStore(tmp_path)
    assert store.steps() == [0]
    assert set(store.metrics_frame().step) == {0}


def test_reader_sees_a_live_writer(tmp_path: Path) -> None:
    """After `refresh()` every read — not only the step listing — shows what the writer added
    since the reader last read (each read method caches the same records)."""
    writer = SpectraWriter(tmp_path, meta())
    writer.write(0, entry(0))
    writer.wait()
    store = SpectraStore(tmp_path)
    assert store.steps() == [0]
    assert set(store.metrics_frame().step) == {0}
    assert store.sigma("q").shape == (1, 3, 4)
    np.testing.assert_array_equal(store.load(0)["sigma"]["q"], entry(0)["sigma"]["q"])
    writer.write(25, entry(25))
    writer.wait()
    store.refresh()
    assert store.steps() == [0, 25]
    assert set(store.metrics_frame().step) == {0, 25}
    np.testing.assert_array_equal(store.sigma("q")[1], entry(25)["sigma"]["q"])
    np.testing.assert_array_equal(store.load(25)["sigma"]["q"], entry(25)["sigma"]["q"])
    writer.close()


def test_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no spectra store at .*directory not found"):
        SpectraStore(tmp_path / "missing")
    write(tmp_path / "s", [0])
    meta_path = tmp_path / "s" / "meta.json"
    data = json.loads(meta_path.read_text())
    data["schema_version"] = 99
    meta_path.write_text(json.dumps(data))
    with pytest.raises(StoreError, match="schema version 99, this spectral-jax reads version 1"):
        SpectraStore(tmp_path / "s")
    write(tmp_path / "t", [0])
    other = meta()
    other["shapes"]["q"] = [4, 8]
    with pytest.raises(StoreError, match="different 'shapes'"):
        SpectraWriter(tmp_path / "t", other)
    assert SpectraStore(tmp_path / "t").steps() == [0]  # nothing was lost


def test_changed_settings_are_kept_in_history(tmp_path: Path) -> None:
    """A resume that changes `method`/`every` updates meta.json and records the old values as
    applying to the entries before the writer's first step; unchanged settings add nothing."""
    writer = SpectraWriter(tmp_path, {**meta(), "method": "svd", "every": 25})
    writer.write(0, entry(0))
    writer.write(25, entry(25))
    writer.close()
    for _ in range(2):  # the second, unchanged reopening must not add to the history
        truncate_after(tmp_path, 29)  # as a resume from step 30 does
        writer = SpectraWriter(tmp_path, {**meta(), "method": "gram", "every": 10}, from_step=30)
        writer.write(30, entry(30))
        writer.close()
        store = SpectraStore(tmp_path)
        assert (store.meta["method"], store.meta["every"]) == ("gram", 10)
        assert store.meta["history"] == [{"before_step": 30, "method": "svd", "every": 25}]
        assert store.steps() == [0, 25, 30]
