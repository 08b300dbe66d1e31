import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import precision_recall_fscore_support

from bench.results import stats as stats
def test_wilson_interval_against_table_values():
    # Textbook values (Newcombe 1998, Table I): 81/263 -> 0.2553-0.3662; 0/10 -> 0-0.2775.
    lo, hi = stats.wilson_interval(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    lo, hi = stats.wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and round(hi, 4) == 0.2775


@pytest.mark.parametrize("b,c", [(10, 2), (5, 5), (0, 7), (40, 25)])
def test_mcnemar_exact_is_a_binomial_test_on_discordant_pairs(b, c):
    # Hand-made table: 100 both right, b only A right, c only B right, 20 both wrong.
    a_right = np.r_[np.ones(100), np.ones(b), np.zeros(c), np.zeros(20)].astype(bool)
    b_right = np.r_[np.ones(100), np.zeros(b), np.ones(c), np.zeros(20)].astype(bool)
    res = stats.mcnemar_exact(a_right, b_right)
    assert (res["a_only"], res["b_only"]) == (b, c)
    assert res["p_value"] == pytest.approx(sps.binomtest(b, b + c, 0.5).pvalue)


def test_mcnemar_p_value_does_not_depend_on_which_classifier_comes_first():
    rng = np.random.default_rng(5)
    a_right, b_right = rng.random(500) < 0.7, rng.random(500) < 0.6
    ab, ba = stats.mcnemar_exact(a_right, b_right), stats.mcnemar_exact(b_right, a_right)
    assert (ab["a_only"], ab["b_only"]) == (ba["b_only"], ba["a_only"])
    assert ab["p_value"] == ba["p_value"]  # bit for bit


def test_mcnemar_identical_predictions():
    same = np.array([True, False, True])
    assert stats.mcnemar_exact(same, same)["p_value"] == 1.0


def _preds(seed=0, n=2000, acc=0.8):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    p = np.where(rng.random(n) < acc, y, rng.integers(0, 10, n))
    return y, p


def test_macro_scores_match_sklearn_including_missing_classes():
    y, p = _preds()
    p[p == 3] = 4  # class 3 never predicted: precision undefined, skipped by the average (not counted as 0)
    ours = stats.macro_scores(y, p)
    ref = precision_recall_fscore_support(y, p, labels=list(range(10)), average="macro", zero_division=np.nan)
    assert [float(ours[k]) for k in ("precision", "recall", "f1")] == pytest.approx(ref[:3])
    batched = stats.macro_scores(np.stack([y, y]), np.stack([p, y]))
    assert batched["f1"][1] == pytest.approx(1.0) and batched["f1"][0] == pytest.approx(ref[2])


def test_bootstrap_is_reproducible_and_covers_the_estimate():
    y, p = _preds()
    a = stats.bootstrap_macro_intervals(y, p, n_resamples=300)
    b = stats.bootstrap_macro_intervals(y, p, n_resamples=300)
    assert a == b
    f1 = float(stats.macro_scores(y, p)["f1"])
    assert a["f1"][0] < f1 < a["f1"][1]
    assert stats.bootstrap_macro_intervals(y, p, n_resamples=300, seed=1) != a


def test_paired_difference_intervals():
    y, p = _preds(acc=0.85)
    rng = np.random.default_rng(5)
    worse = np.where(rng.random(len(y)) < 0.2, (p + 1) % 10, p)
    d = stats.paired_difference_intervals(y, p, worse, n_resamples=300)
    assert d["accuracy"][0] > 0 and d["f1"][0] > 0
    same = stats.paired_difference_intervals(y, p, p, n_resamples=300)
    assert same["accuracy"] == (0.0, 0.0)


def test_ece_on_constructed_predictions():
    # Every prediction made with confidence ~0.9; 90 % right -> ECE ~0; 60 % right -> ECE ~0.3.
    n = 1000
    logit = np.log(0.9 / (0.1 / 9))
    logits = np.zeros((n, 10))
    logits[:, 0] = logit
    y_calibrated = np.where(np.arange(n) < 900, 0, 1)
    y_over = np.where(np.arange(n) < 600, 0, 1)
    assert stats.calibration(y_calibrated, logits)["ece"] == pytest.approx(0.0, abs=1e-9)
    assert stats.calibration(y_over, logits)["ece"] == pytest.approx(0.3, abs=1e-9)


def test_top_confusions_and_describe_seeds():
    cm = np.diag([50] * 3)
    cm[0, 1], cm[2, 0] = 7, 3
    top = stats.top_confusions(cm, ["a", "b", "c"], k=5)
    assert [(t["true"], t["predicted"], t["count"]) for t in top] == [("a", "b", 7), ("c", "a", 3)]
    d = stats.describe_seeds([0.8, 0.82, 0.84])
    assert d["mean"] == pytest.approx(0.82) and d["std"] == pytest.approx(0.02) and d["n"] == 3
    assert stats.describe_seeds([0.5])["std"] == 0.0


def test_bootstrap_resamples_are_10000_where_the_run_is_small_enough():
    assert stats.N_RESAMPLES == 10_000
    assert stats.resamples_for(1000) == 10_000  # a smoke run
    assert stats.resamples_for(2_500) == 4000  # larger test sets: fewer, in whole thousands, stated
    assert stats.resamples_for(10_000) == 1000  # the full test set
    assert stats.resamples_for(10**9) == 1000

