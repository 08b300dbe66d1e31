"""bench.results.paired: the one paired comparison and its one sign convention (first minus second)."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from bench.results import paired
from bench.results.paired import FIRST, NONE, SECOND


def predictions(seed=3, n=2000):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    good = np.where(rng.random(n) < 0.9, y, (y + 1) % 10)
    poor = np.where(rng.random(n) < 0.6, y, (y + 2) % 10)
    return y, good, poor


@pytest.mark.parametrize("p,ci,decision", [
    (0.01, (0.01, 0.03), FIRST), (0.01, (-0.03, -0.01), SECOND),
    (0.01, (-0.001, 0.02), NONE),   # test rejects, interval holds 0: not established
    (0.20, (0.001, 0.02), NONE),    # interval excludes 0, test does not reject: not established
    (0.20, (-0.01, 0.02), NONE),
])
def test_a_side_wins_only_when_test_and_interval_agree(p, ci, decision):
    assert paired.decide(p, ci) == decision


def test_differences_are_first_minus_second_and_swapping_flips_everything():
    y, good, poor = predictions()
    ab = paired.compare_predictions(y, good, poor, num_classes=10)
    ba = paired.compare_predictions(y, poor, good, num_classes=10)
    assert ab.decision == FIRST and ba.decision == SECOND
    assert ab.acc_diff == pytest.approx((good == y).mean() - (poor == y).mean())
    assert ab.acc_diff == -ba.acc_diff and ab.f1_diff == -ba.f1_diff
    assert ab.acc_diff_ci[0] > 0 and ba.acc_diff_ci[1] < 0
    assert (ab.first_only, ab.second_only) == (ba.second_only, ba.first_only)
    assert ab.p_value == ba.p_value < 0.001
    assert ab.significant and ab.excludes_zero
    assert ab.acc_diff_ci[0] <= ab.acc_diff <= ab.acc_diff_ci[1]


def test_identical_predictions_establish_nothing():
    y, good, _ = predictions()
    same = paired.compare_predictions(y, good, good, num_classes=10)
    assert same.decision == NONE and same.p_value == 1.0 and same.acc_diff == 0.0 and not same.excludes_zero


def test_majority_over_seeds():
    assert paired.majority(2, 0, 3) == FIRST and paired.majority(0, 2, 3) == SECOND
    assert paired.majority(1, 1, 2) == NONE and paired.majority(0, 0, 0) == NONE


def test_t_interval_over_seeds_matches_scipy_and_is_clipped():
    values = [0.80, 0.82, 0.81]
    ci = paired.t_interval(values, (0.0, 1.0))
    lo, hi = sps.t.interval(0.95, 2, loc=np.mean(values), scale=sps.sem(values))
    assert (ci["low"], ci["high"]) == pytest.approx((lo, hi))
    assert ci["method"] == "t_seeds" and ci["confidence"] == 0.95
    wide = paired.t_interval([0.0, 0.1], (0.0, 1.0))
    assert wide["low"] == 0.0 and wide["high"] <= 1.0 and not math.isnan(wide["high"])
