"""verify's comparison of a re-run with the record, on in-memory runs (no training)."""

import types

import numpy as np

from bench.rundir import layout as art
from bench.runner.verify import compare_rerun


def history(epochs: int, loss: float = 1.0) -> list[dict]:
    return [{**{k: 0.5 for k in art.HISTORY_FIELDS}, "epoch": e, "train_loss": loss, "seconds": 10.0 * e}
            for e in range(1, epochs + 1)]


def recorded(logits) -> types.SimpleNamespace:
    return types.SimpleNamespace(model="mlp", seed=2, history=history(2), predictions={"logits": logits})


def test_equal_results_are_identical_whatever_the_wall_times():
    logits = np.arange(6, dtype=np.float32).reshape(3, 2)
    rerun = [{**row, "seconds": 99.0} for row in history(2)]
    row = compare_rerun(recorded(logits), rerun, {"logits": logits.copy()})
    assert row == {"model": "mlp", "seed": 2, "status": "identical", "max_logit_diff": 0.0, "max_history_diff": 0.0}


def test_a_difference_reports_its_size():
    logits = np.zeros((3, 2), dtype=np.float32)
    row = compare_rerun(recorded(logits), history(2, loss=1.25), {"logits": logits + np.float32(0.5)})
    assert row["status"] == "different" and row["max_logit_diff"] == 0.5 and row["max_history_diff"] == 0.25


def test_identical_divergence_is_identical_and_a_missing_epoch_is_not():
    nan = np.full((3, 2), np.nan, dtype=np.float32)
    assert compare_rerun(recorded(nan), history(2), {"logits": nan.copy()})["status"] == "identical"
    row = compare_rerun(recorded(nan), history(1), {"logits": nan.copy()})
    assert row["status"] == "different" and row["max_history_diff"] == float("inf")
