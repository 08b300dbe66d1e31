"""bench.results.learning: did a model learn, and which way is it miscalibrated (numbers only, known truth).

Predictions and logits are simulated so that the answer is known before the code runs: a seed trained to
near-chance accuracy, a network that never predicts some classes, logits whose confidence exceeds or falls
short of their accuracy by a chosen amount.
"""

import copy

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from bench.protocol import get_profile, spec_for
from bench.results import learning, stats
from bench.results.departures import illustrative, run_departures
from bench.results.study import analyse
from memory_run import CLASSES, config, memory_artifacts

K = len(CLASSES)


@pytest.fixture(scope="module", autouse=True)
def fewer_resamples():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stats, "N_RESAMPLES", 1000)
        yield


def test_the_chance_adjusted_scale_is_scikit_learns_and_the_threshold_sits_a_tenth_above_chance():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(K), 100)  # balanced: balanced accuracy is accuracy
    for acc in (0.1, 0.19, 0.5, 1.0):
        pred = np.where(np.arange(len(y)) < acc * len(y), y, (y + 1) % K)
        pred = pred[rng.permutation(len(y))] if acc == 0.1 else pred
        assert learning.chance_adjusted(float((pred == y).mean()), K) == pytest.approx(
            balanced_accuracy_score(y, pred, adjusted=True), abs=1e-9)
    assert learning.near_chance_threshold(10) == pytest.approx(0.19)
    assert learning.near_chance_threshold(2) == pytest.approx(0.55)


@pytest.mark.parametrize("train_acc,near", [(0.12, True), (0.184, True), (0.1899, True), (0.19, False),
                                             (0.2475, False), (0.9, False), (None, None)])
def test_near_chance_training_accuracy(train_acc, near):
    y = np.tile(np.arange(K), 20)
    s = learning.seed_learning(0, train_acc, y, y, CLASSES, [])
    assert s["near_chance"] is near
    assert s["learned"] is (not near)
    assert s["reasons"] == (["near_chance_training"] if near else [])


def test_classes_never_predicted_are_found_among_the_classes_the_test_set_holds():
    y = np.tile(np.arange(K), 30)
    pred = y.copy()
    pred[np.isin(pred, [4, 7])] = 0  # the network never says deer or horse
    s = learning.seed_learning(3, 0.6, y, pred, CLASSES, [])
    assert s["never_predicted"] == ["deer", "horse"] and s["classes_in_test"] == K
    assert not s["learned"] and s["reasons"] == ["classes_never_predicted"]
    # A class absent from the test labels is not held against the network.
    keep = y != 9
    s = learning.seed_learning(3, 0.6, y[keep], y[keep], CLASSES, [])
    assert s["never_predicted"] == [] and s["classes_in_test"] == K - 1 and s["learned"]


def test_degenerate_hits_are_taken_as_given_and_a_model_fails_only_when_every_seed_does():
    y = np.tile(np.arange(K), 20)
    hit = [{"rule": "one_class_share", "class": 0, "share": 0.97, "threshold": 0.95}]
    bad = learning.seed_learning(1, 0.6, y, y, CLASSES, hit)
    good = learning.seed_learning(0, 0.6, y, y, CLASSES, [])
    assert bad["reasons"] == ["degenerate"] and not bad["learned"]
    partly = learning.model_learning([good, bad], K)
    assert partly["seeds_not_learned"] == [1] and not partly["did_not_learn"]
    assert learning.model_learning([bad], K)["did_not_learn"]
    assert not learning.model_learning([], K)["did_not_learn"]


def simulated_logits(confidence: float, accuracy: float, n: int = 4000, seed: int = 0):
    """Logits whose top-class softmax probability is `confidence` and whose argmax is right on `accuracy` of
    the images: over-confident when confidence > accuracy."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    right = rng.random(n) < accuracy
    top = np.where(right, y, (y + rng.integers(1, K, n)) % K)
    rest = (1 - confidence) / (K - 1)
    probs = np.full((n, K), rest)
    probs[np.arange(n), top] = confidence
    return y, np.log(probs)


@pytest.mark.parametrize("confidence,accuracy,direction", [(0.9, 0.6, "over"), (0.5, 0.8, "under"),
                                                           (0.7, 0.7, "neither")])
def test_the_calibration_direction_follows_the_gap_between_confidence_and_accuracy(confidence, accuracy,
                                                                                   direction):
    y, logits = simulated_logits(confidence, accuracy)
    d = learning.confidence_gap(y, logits[None])
    assert d["mean_confidence"] == pytest.approx(confidence)
    assert d["gap"] == pytest.approx(d["mean_confidence"] - d["accuracy"])
    assert abs(d["accuracy"] - accuracy) < 0.03
    assert d["direction"] == direction
    assert d["low"] <= d["gap"] <= d["high"]
    # The same as stats.calibration's own mean confidence and accuracy.
    c = stats.calibration(y, logits)
    assert c["mean_confidence"] == pytest.approx(d["mean_confidence"])


def test_the_gap_averages_seeds_per_image_so_its_unit_is_the_test_image():
    y, a = simulated_logits(0.9, 0.6, seed=1)
    _, b = simulated_logits(0.9, 0.6, seed=2)
    d = learning.confidence_gap(y, np.stack([a, b]))
    correct = np.stack([x.argmax(1) == y for x in (a, b)]).astype(float)
    per_image = (0.9 - correct).mean(0)
    assert d["gap"] == pytest.approx(per_image.mean())
    half = d["high"] - d["gap"]
    assert half == pytest.approx(1.96 * per_image.std(ddof=1) / np.sqrt(len(y)), rel=0.01)


def test_sparse_bins_are_those_under_a_hundred_predictions():
    s = learning.sparse_bins([0, 321, 938, 530, 143, 48, 13, 5, 2])
    assert s == {"few_per_bin": 100, "bins": 8, "sparse": 4, "share": pytest.approx(68 / 2000)}
    assert learning.sparse_bins([500, 500])["sparse"] == 0


def test_analyse_flags_the_model_that_trained_near_chance(tmp_path):
    arts = memory_artifacts(tmp_path, {"mlp": [0.40, 0.42], "cnn": [0.30, 0.31]})
    for r in arts.runs:
        if r.model == "cnn":
            r.history[-1]["train_acc"] = 0.12
    s = analyse(arts)
    cnn, mlp = s["models"]["cnn"]["learning"], s["models"]["mlp"]["learning"]
    assert cnn["did_not_learn"] and cnn["seeds_not_learned"] == [0, 1]
    assert [x["train_accuracy"] for x in cnn["seeds"]] == [0.12, 0.12]
    assert not mlp["did_not_learn"] and mlp["seeds_not_learned"] == []
    # Flagged, not removed: it keeps its numbers and its place in the ranking.
    assert {r["model"] for r in s["ranking"]} == {"mlp", "cnn"} and "aggregate" in s["models"]["cnn"]
    # The decisive simulated logits (confidence near 1, accuracy near 0.4) are over-confident.
    direction = s["models"]["mlp"]["calibration"]["direction"]
    assert direction["direction"] == "over" and direction["gap"] > 0.5


def test_a_history_without_training_accuracy_is_not_recorded_not_near_chance(tmp_path):
    arts = memory_artifacts(tmp_path, {"mlp": [0.40]})
    for r in arts.runs:
        for h in r.history:
            h.pop("train_acc")
    seed = analyse(arts)["models"]["mlp"]["learning"]["seeds"][0]
    assert seed["train_accuracy"] is None and seed["near_chance"] is None and seed["learned"]


def full_config(model: str) -> dict:
    cfg = copy.deepcopy(config(model))
    full = get_profile("full")
    cfg["compute"]["spec"] = spec_for(model, full).to_dict() | {"model": model}
    cfg["compute"]["profile"] = {"name": "full"}
    cfg["compute"]["sizes"] = {"train": 45000, "val": 5000, "test": 10000}
    return cfg


def test_a_smoke_run_is_illustrative_and_says_why_a_full_run_is_not():
    smoke = run_departures({m: config(m) for m in ("mlp", "cnn")})
    assert smoke["illustrative"] == {"profile": "smoke", "train_images": [2000, 45000],
                                     "epochs": {"run": [2, 4], "full": [10, 40]}}
    full = run_departures({m: full_config(m) for m in ("mlp", "cnn")})
    assert full["items"] == [] and full["illustrative"] is None
    # A deliberate experiment (more epochs, another setting) departs but is not illustrative.
    longer = full_config("cnn")
    longer["compute"]["spec"]["phases"] = [{"lr": 0.001, "epochs": 12}, {"lr": 0.0001, "epochs": 4}]
    longer["compute"]["spec"]["batch_size"] = 64
    dep = run_departures({"cnn": longer})
    assert {d["what"] for d in dep["items"]} == {"phases", "batch_size"} and dep["illustrative"] is None
    # Fewer epochs alone make it illustrative.
    shorter = full_config("cnn")
    shorter["compute"]["spec"]["phases"] = [{"lr": 0.001, "epochs": 3}]
    assert illustrative(run_departures({"cnn": shorter})["items"]) == {
        "profile": None, "train_images": None, "epochs": {"run": [3, 3], "full": [10, 10]}}
