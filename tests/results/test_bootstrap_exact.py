"""The shared-resample bootstraps (issue 22) give the numbers of the straightforward computation bit for bit: every
interval of a summary is what resampling the images one statistic at a time gave before, so summary.json does not
change. The references below are those straightforward computations, written out."""

import numpy as np
import pytest
from scipy import stats as sps

from bench.results import inference, stats


def _case(n, k, acc, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    a = np.where(rng.random(n) < acc, y, rng.integers(0, k, n))
    b = np.where(rng.random(n) < acc * 0.9, y, rng.integers(0, k, n))
    return y, a, b


def _reference_bootstrap(data, statistic, seed, n_resamples):
    """scipy.stats.bootstrap resampling the images itself, 100 resamples a batch, as bench did before issue 22."""
    res = sps.bootstrap(data, statistic, paired=True, vectorized=True, n_resamples=n_resamples, confidence_level=0.95,
                        method="percentile", batch=100, rng=np.random.default_rng(seed))
    return [(float(lo), float(hi)) for lo, hi in zip(np.atleast_1d(res.confidence_interval.low),
                                                     np.atleast_1d(res.confidence_interval.high))]


CASES = [(1000, 10, 0.3, 1), (1000, 10, 0.9, 2), (997, 3, 0.5, 3), (400, 10, 0.12, 4)]


@pytest.mark.parametrize("n,k,acc,seed", CASES)
def test_macro_intervals_are_those_of_resampling_the_images(n, k, acc, seed):
    y, a, _ = _case(n, k, acc, seed)
    if acc < 0.2:
        a[a == 2] = 1  # a class never predicted: undefined precision, skipped by the macro average

    def statistic(yy, pp, axis=-1):
        m = stats.macro_scores(yy, pp, num_classes=k, axis=axis)
        return np.stack([m[key] for key in stats.MACRO_KEYS])

    expected = dict(zip(stats.MACRO_KEYS, _reference_bootstrap((y, a), statistic, 0, 2000)))
    assert stats.bootstrap_macro_intervals(y, a, num_classes=k, n_resamples=2000) == expected  # exact equality


@pytest.mark.parametrize("n,k,acc,seed", CASES[:3])
def test_paired_difference_intervals_are_those_of_resampling_the_images(n, k, acc, seed):
    y, a, b = _case(n, k, acc, seed)

    def statistic(yy, pa, pb, axis=-1):
        acc_diff = (pa == yy).mean(axis) - (pb == yy).mean(axis)
        f1 = (stats.macro_scores(yy, pa, num_classes=k, axis=axis)["f1"]
              - stats.macro_scores(yy, pb, num_classes=k, axis=axis)["f1"])
        return np.stack([acc_diff, f1])

    acc_ci, f1_ci = _reference_bootstrap((y, a, b), statistic, 3, 1500)
    got = stats.paired_difference_intervals(y, a, b, num_classes=k, n_resamples=1500, seed=3)
    assert got == {"accuracy": acc_ci, "f1": f1_ci}


def test_resampled_confusions_count_each_resample():
    y, a, _ = _case(300, 10, 0.5, 7)
    confusions = stats.resampled_confusions(y, a, num_classes=10, n_resamples=250, seed=5)
    rng = np.random.default_rng(5)
    idx = np.concatenate([rng.integers(0, 300, (min(100, 250 - s), 300)) for s in range(0, 250, 100)])
    for r in (0, 99, 100, 249):
        expected = np.zeros((10, 10), dtype=np.int64)
        np.add.at(expected, (y[idx[r]], a[idx[r]]), 1)
        assert np.array_equal(confusions[r], expected)
    assert confusions.flags["C_CONTIGUOUS"]  # the layout numpy's reductions see, as for a counted matrix


def test_macro_test_set_se_is_that_of_resampling_the_images():
    rng = np.random.default_rng(11)
    y = rng.integers(0, 10, 500)
    pred = np.stack([np.where(rng.random(500) < 0.6, y, rng.integers(0, 10, 500)) for _ in range(3)])
    s, n = pred.shape
    parts = [stats.macro_scores(np.broadcast_to(y[idx], (s, *idx.shape)), pred[:, idx], num_classes=10)
             for idx in (np.random.default_rng(0).integers(0, n, (700, n)),)]  # one batch: 2e6 // (3 x 500) > 700
    expected = {key: float(np.sqrt(max(0.0, (s * v.mean(0).var(ddof=1) - v.var(1, ddof=1).mean()) / (s - 1))))
                for key, v in ((k, parts[0][k]) for k in ("precision", "recall", "f1"))}
    assert inference.macro_test_set_se(y, pred, num_classes=10, n_resamples=700) == expected


def test_resampled_ece_adds_in_drawing_order():
    """One bincount over all resamples at once (the computation before issue 22) and the blockwise one agree."""
    rng = np.random.default_rng(2)
    s, n, bins_n = 3, 400, 15
    bins = rng.integers(0, bins_n, (s, n))
    gap = rng.random((s, n)) - 0.6
    idx = rng.integers(0, n, (450, n))
    r = len(idx)
    codes = (np.arange(s)[:, None, None] * r + np.arange(r)[None, :, None]) * bins_n + bins[:, idx]
    sums = np.bincount(codes.ravel(), weights=gap[:, idx].ravel(), minlength=s * r * bins_n)
    expected = np.abs(sums.reshape(s, r, bins_n)).sum(-1) / n
    assert np.array_equal(stats.resampled_ece(bins, gap, idx.astype(np.uint16), bins_n), expected)
