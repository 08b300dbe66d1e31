import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from bench.results import metrics as metrics
def test_summary_metrics_match_torch_and_sklearn():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 500)
    m = metrics.summary_metrics(labels, logits)
    ce = torch.nn.functional.cross_entropy(torch.from_numpy(logits).double(), torch.from_numpy(labels)).item()
    assert m["loss"] == pytest.approx(ce)
    assert m["accuracy"] == accuracy_score(labels, logits.argmax(1))
    assert m["macro_f1"] == pytest.approx(f1_score(labels, logits.argmax(1), average="macro"))
    assert m["n"] == 500


def test_per_class_table_and_confusion():
    y = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0])
    table = metrics.per_class_table(y, p, ["a", "b", "c"])
    assert table["b"]["precision"] == pytest.approx(2 / 3) and table["c"]["recall"] == 0
    assert metrics.confusion(y, p, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
