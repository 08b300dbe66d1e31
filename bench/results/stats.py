"""Uncertainty and significance for test-set results.

Intervals and tests come from scipy (binomtest, bootstrap); the statistics that the
bootstrap resamples are vectorised here (they are checked against scikit-learn in the tests).
Every bootstrap of a report resamples the same test set with the same seed, so the resamples
are drawn once (resample_counts) and each set of predictions' resampled confusion matrices are
counted once (resampled_confusions), whatever number of intervals and comparisons use them;
scipy.stats.bootstrap turns the distributions into percentile intervals.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import types

import numpy as np

# scipy and scikit-learn are imported by the functions that use them: a report whose analysis comes from the
# cache (bench.render.cache) imports neither (~1.5 s of a render).

CONFIDENCE = 0.95
N_RESAMPLES = 10_000  # percentile bootstraps over test images, where the run is small enough (resamples_for)
BOOTSTRAP_SEED = 0
# resamples x images above which fewer resamples are drawn (whole thousands, at least 1,000): a 1,000-image smoke
# run gets 10,000; the full 10,000-image test set 1,000 (as before issue 21), which keeps the per-seed and
# per-checkpoint bootstraps of a 4-model x 5-seed report near a minute on two cores.
MAX_BOOTSTRAP_DRAWS = 10**7


def resamples_for(n_images: int) -> int:
    """The bootstrap resamples used over `n_images` test images (stated in every summary)."""
    return max(1000, min(N_RESAMPLES, MAX_BOOTSTRAP_DRAWS // max(1, int(n_images)) // 1000 * 1000))
ECE_BINS = 15


def wilson_interval(correct: int, n: int, *, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a proportion (here: accuracy)."""
    from scipy import stats

    ci = stats.binomtest(int(correct), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _confusion_batched(y: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """Confusion matrices of every leading index at once: (..., n) -> (..., k, k)."""
    lead = y.shape[:-1]
    m = int(np.prod(lead)) if lead else 1
    yy, pp = y.reshape(m, -1).astype(np.int64), p.reshape(m, -1).astype(np.int64)
    codes = (np.arange(m)[:, None] * (k * k) + yy * k + pp).ravel()
    return np.bincount(codes, minlength=m * k * k).reshape(*lead, k, k)


def macro_scores(y: np.ndarray, p: np.ndarray, *, num_classes: int = 10, axis: int = -1) -> dict[str, np.ndarray]:
    """Macro precision, recall and F1 over the classes where each is defined (undefined is not zero).

    Precision is undefined for a class never predicted, recall for a class absent from the labels, F1
    (2 TP / (2 TP + FP + FN), as scikit-learn) for a class neither predicted nor present; the macro average
    skips them, as bench.results.inference.per_class_scores does.
    """
    return macro_from_confusion(_confusion_batched(np.moveaxis(np.asarray(y), axis, -1),
                                                   np.moveaxis(np.asarray(p), axis, -1), num_classes))


def macro_from_confusion(c: np.ndarray) -> dict[str, np.ndarray]:
    """macro_scores of confusion matrices (..., k, k) (rows: true class, columns: predicted)."""
    tp = np.diagonal(c, axis1=-2, axis2=-1).astype(np.float64)
    pred_pos, true_pos = c.sum(-2), c.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred_pos > 0, tp / pred_pos, np.nan)
        recall = np.where(true_pos > 0, tp / true_pos, np.nan)
        denom = pred_pos + true_pos
        f1 = np.where(denom > 0, 2 * tp / denom, np.nan)
        return {"precision": _nanmean(precision), "recall": _nanmean(recall), "f1": _nanmean(f1)}


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the defined entries (NaN where none is)."""
    defined = ~np.isnan(values)
    return np.where(defined.any(-1), np.nansum(values, -1) / np.maximum(defined.sum(-1), 1), np.nan)


BOOTSTRAP_BATCH = 100  # resamples drawn per call of the generator (scipy.stats.bootstrap's batch= before issue 22)


@functools.lru_cache(maxsize=4)
def resample_counts(n: int, n_resamples: int, seed: int = BOOTSTRAP_SEED, batch: int = BOOTSTRAP_BATCH) -> np.ndarray:
    """(n, resamples): how often each of `n` test images is drawn in each bootstrap resample (image-major, the
    layout the sparse product of resampled_confusions reads without a copy).

    Resample r is row r of `rng.integers(0, n, (batch, n))` drawn batch after batch from default_rng(seed): the
    paired resamples scipy.stats.bootstrap draws with that generator and batch. Every bootstrap over one test set
    uses the same seed, so the draws are made once and shared (cached: a 1,000-image smoke run's 10,000 resamples
    are 20 MB); a statistic that depends on the resample only through counts (a confusion matrix) is then one
    sparse product per set of predictions instead of one pass over every resampled image per statistic.
    """
    rng = np.random.default_rng(seed)
    counts = np.empty((n, n_resamples), dtype=np.uint16 if n < 2**16 else np.uint32)
    for start in range(0, n_resamples, batch):
        b = min(batch, n_resamples - start)
        idx = rng.integers(0, n, (b, n))
        counts[:, start:start + b] = np.bincount((idx + (np.arange(b) * n)[:, None]).ravel(),
                                                 minlength=b * n).reshape(b, n).T
    counts.flags.writeable = False
    return counts


_CONFUSIONS: collections.OrderedDict = collections.OrderedDict()
_CONFUSIONS_KEPT = 48  # sets of predictions whose resampled confusions are kept (one model's seeds and its pairs)


def resampled_confusions(y: np.ndarray, p: np.ndarray, *, num_classes: int, n_resamples: int,
                         seed: int = BOOTSTRAP_SEED, batch: int = BOOTSTRAP_BATCH) -> np.ndarray:
    """(resamples, k, k) int64: the confusion matrix of every bootstrap resample (resample_counts) of (y, p).

    The same integers as a confusion matrix counted over each resampled set of images, so every statistic
    computed from them is bit for bit what it was when scipy.stats.bootstrap resampled the images. Kept for
    the predictions seen last: a seed's predictions enter its own intervals and every comparison with it."""
    y, p = np.asarray(y), np.asarray(p)
    key = (len(y), n_resamples, seed, batch, num_classes, hashlib.sha256(y.astype(np.int64).tobytes()).hexdigest(),
           hashlib.sha256(p.astype(np.int64).tobytes()).hexdigest())
    if key in _CONFUSIONS:
        _CONFUSIONS.move_to_end(key)
        return _CONFUSIONS[key]
    n, k = len(y), num_classes
    counts = resample_counts(n, n_resamples, seed, batch)
    from scipy import sparse

    # cells x images, one 1 per image in its (true, predicted) cell; a cell's count never exceeds n, so the
    # counts' own integer type holds it.
    cells = sparse.csr_array((np.ones(n, dtype=counts.dtype), (y.astype(np.int64) * k + p, np.arange(n))),
                             shape=(k * k, n))
    # C order, as a counted confusion matrix is: numpy's float reductions over it then add in the same order.
    confusions = np.ascontiguousarray((cells @ counts).T, dtype=np.int64).reshape(n_resamples, k, k)
    confusions.flags.writeable = False
    _CONFUSIONS[key] = confusions
    while len(_CONFUSIONS) > _CONFUSIONS_KEPT:
        _CONFUSIONS.popitem(last=False)
    return confusions


def _percentile_intervals(data: tuple, distribution: np.ndarray, *, confidence: float) -> list[tuple[float, float]]:
    """scipy.stats.bootstrap's percentile intervals of a bootstrap distribution (components, resamples) computed
    here (bootstrap_result=, no new resamples): scipy's own quantiles of the same numbers as before."""
    from scipy import stats

    done = types.SimpleNamespace(bootstrap_distribution=distribution)
    res = stats.bootstrap(data, lambda *a, axis=-1: None, paired=True, vectorized=True, n_resamples=0,
                          confidence_level=confidence, method="percentile", bootstrap_result=done)
    lows, highs = np.atleast_1d(res.confidence_interval.low), np.atleast_1d(res.confidence_interval.high)
    return [(float(lo), float(hi)) for lo, hi in zip(lows, highs)]


def _bootstrap_indices(n: int, n_resamples: int, seed: int, batch: int):
    """Resampled test-image indices in batches (one generator, fixed seed: reproducible)."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, batch):
        yield rng.integers(0, n, size=(min(batch, n_resamples - start), n))


@functools.lru_cache(maxsize=2)
def bootstrap_indices(n: int, n_resamples: int, seed: int, batch: int) -> np.ndarray:
    """(n_resamples, n): every batch of _bootstrap_indices, drawn once for all the models of a report (they share
    the test set and the seed); stored in the smallest integer type that holds them (20 MB for 10,000 resamples
    of a 1,000-image smoke run)."""
    out = np.concatenate(list(_bootstrap_indices(n, n_resamples, seed, batch))).astype(
        np.uint16 if n <= 2**16 else np.int64)
    out.flags.writeable = False
    return out


def resampled_ece(bins: np.ndarray, gap: np.ndarray, indices: np.ndarray, n_bins: int, rows: int = 128) -> np.ndarray:
    """(S, R): the ECE of every seed (rows of `bins`, `gap`: (S, N)) on every resample (rows of `indices`).

    One np.bincount per block of `rows` resamples, into buffers reused from block to block: each bin's sum adds
    its images in the order they were drawn, as one bincount over all resamples did, so the numbers are the same
    bit for bit, with a fraction of the memory traffic (and none of the page faults of fresh 100 MB arrays).
    """
    s, n = bins.shape
    total = len(indices)
    rows = min(rows, total)
    codes, weights = np.empty((s, rows, n), dtype=np.intp), np.empty((s, rows, n))
    boot = np.empty((s, total))
    for start in range(0, total, rows):
        part = indices[start:start + rows].astype(np.intp)
        r = len(part)
        c, w = codes[:, :r], weights[:, :r]
        np.take(bins, part, axis=1, out=c)
        c += (np.arange(s)[:, None, None] * r + np.arange(r)[None, :, None]) * n_bins
        np.take(gap, part, axis=1, out=w)
        sums = np.bincount(c.ravel(), weights=w.ravel(), minlength=s * r * n_bins)
        boot[:, start:start + r] = np.abs(sums.reshape(s, r, n_bins)).sum(-1) / n
    return boot


MACRO_KEYS = ("precision", "recall", "f1")


def bootstrap_macro_intervals(y: np.ndarray, pred: np.ndarray, *, num_classes: int = 10, seed: int = BOOTSTRAP_SEED,
                              n_resamples: int | None = None, confidence: float = CONFIDENCE) -> dict:
    """95 % percentile-bootstrap intervals over test examples for macro P, R and F1."""
    r = n_resamples or resamples_for(len(y))
    m = macro_from_confusion(resampled_confusions(y, pred, num_classes=num_classes, n_resamples=r, seed=seed))
    cis = _percentile_intervals((y, pred), np.stack([m[k] for k in MACRO_KEYS]), confidence=confidence)
    return dict(zip(MACRO_KEYS, cis))


def paired_difference_intervals(y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, *, num_classes: int = 10,
                                seed: int = BOOTSTRAP_SEED, n_resamples: int | None = None,
                                confidence: float = CONFIDENCE) -> dict:
    """Paired bootstrap intervals for accuracy(A) - accuracy(B) and macroF1(A) - macroF1(B)."""
    r, n = n_resamples or resamples_for(len(y)), len(y)
    ca = resampled_confusions(y, pred_a, num_classes=num_classes, n_resamples=r, seed=seed)
    cb = resampled_confusions(y, pred_b, num_classes=num_classes, n_resamples=r, seed=seed)
    # A resample's accuracy is its correct count over n, exactly the mean of its correctness.
    acc = np.trace(ca, axis1=-2, axis2=-1) / n - np.trace(cb, axis1=-2, axis2=-1) / n
    f1 = macro_from_confusion(ca)["f1"] - macro_from_confusion(cb)["f1"]
    acc_ci, f1_ci = _percentile_intervals((y, pred_a, pred_b), np.stack([acc, f1]), confidence=confidence)
    return {"accuracy": acc_ci, "f1": f1_ci}


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """Exact McNemar test on paired correctness: a two-sided binomial test on the discordant pairs."""
    correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    b = int((correct_a & ~correct_b).sum())  # A right, B wrong
    c = int((~correct_a & correct_b).sum())  # A wrong, B right
    from scipy import stats

    # Tested on the larger count, so that the p-value does not depend on which classifier is named first
    # (binomtest's two tails are computed by different routines and may differ in the last bit).
    p = 1.0 if b + c == 0 else float(stats.binomtest(max(b, c), b + c, 0.5).pvalue)
    return {"a_only": b, "b_only": c, "p_value": p}


def softmax(logits: np.ndarray) -> np.ndarray:
    from scipy.special import softmax as _softmax

    return _softmax(logits.astype(np.float64), axis=1)


def calibration(labels: np.ndarray, logits: np.ndarray, *, n_bins: int = ECE_BINS) -> dict:
    """Top-label expected calibration error and the reliability diagram's points.

    ECE = sum over equal-width confidence bins of (bin share) x |accuracy - mean confidence|.
    """
    probs = softmax(logits)
    conf = probs.max(1)
    correct = (probs.argmax(1) == labels).astype(int)
    from sklearn.calibration import calibration_curve

    acc_bin, conf_bin = calibration_curve(correct, conf, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Same binning as calibration_curve: right edges belong to the bin on their left, except 1.0.
    counts = np.bincount(np.clip(np.searchsorted(edges[1:-1], conf, side="left"), 0, n_bins - 1),
                         minlength=n_bins)
    weights = counts[counts > 0] / len(conf)
    ece = float(np.sum(weights * np.abs(acc_bin - conf_bin)))
    return {"ece": ece, "bins": n_bins, "accuracy": acc_bin.tolist(), "confidence": conf_bin.tolist(),
            "counts": counts[counts > 0].tolist(), "mean_confidence": float(conf.mean())}


def top_confusions(cm: np.ndarray, classes: list[str], *, k: int = 5) -> list[dict]:
    """The k largest off-diagonal cells: (true, predicted, count, share of the true class)."""
    off = cm.astype(float).copy()
    np.fill_diagonal(off, -1)
    order = np.argsort(off, axis=None)[::-1][:k]
    rows = []
    for flat in order:
        i, j = divmod(int(flat), cm.shape[1])
        if off[i, j] <= 0:
            break
        rows.append({"true": classes[i], "predicted": classes[j], "count": int(cm[i, j]),
                     "share": float(cm[i, j] / max(cm[i].sum(), 1))})
    return rows


def describe_seeds(values: list[float]) -> dict:
    """Mean, sample std (0 for one seed), min and max across seeds."""
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "min": float(arr.min()), "max": float(arr.max()), "n": int(len(arr))}
