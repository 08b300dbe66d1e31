import json

import numpy as np
import pytest

from bench.rundir import layout as art
from bench.errors import BenchError


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "x.json"
    art.write_json(path, {"a": 1})
    with pytest.raises(RuntimeError):
        with art.atomic_path(path) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("crash mid-write")
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left


def test_corrupt_json_is_a_clear_error(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"truncated": ')
    with pytest.raises(BenchError, match="corrupt artifact"):
        art.read_json(path)
    with pytest.raises(BenchError, match="missing artifact"):
        art.read_json(tmp_path / "none.json")


def test_predictions_and_history_round_trip(tmp_path):
    logits = np.random.default_rng(0).normal(size=(20, 10)).astype(np.float32)
    labels = np.arange(20) % 10
    art.write_predictions(tmp_path / "p.npz", labels, logits)
    back = art.read_predictions(tmp_path / "p.npz")
    assert np.array_equal(back["logits"], logits) and np.array_equal(back["predicted"], logits.argmax(1))
    rows = [{"epoch": 1, "phase": 1, "lr": 0.1, "train_loss": 1.5, "train_acc": 0.4, "val_loss": float("nan"),
             "val_acc": 0.3, "seconds": 2.0}]
    art.write_history(tmp_path / "h.csv", rows)
    back = art.read_history(tmp_path / "h.csv")
    assert back[0]["epoch"] == 1 and np.isnan(back[0]["val_loss"])


def test_corrupt_checkpoint_names_path_and_force(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"\x00" * 10)
    with pytest.raises(BenchError, match=r"corrupt checkpoint .*checkpoint.pt.*--force"):
        art.load_checkpoint(path)


def test_written_files_get_normal_permissions(tmp_path):
    art.write_json(tmp_path / "a.json", {})
    assert (tmp_path / "a.json").stat().st_mode & 0o044  # readable by group/others under a usual umask
