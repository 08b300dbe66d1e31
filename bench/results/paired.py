"""Intervals as the summaries record them, the significance level every test of the report uses, and the one
comparison of two trained networks on one test set (`checkpoints`), which the report and `bench compare` share.

What remains of the old per-seed decision rule (exact McNemar + paired bootstrap, majority over seeds):
issue 21 replaced it by bench.results.inference (the configuration-level test decides about models; the
per-seed mid-p McNemar only describes two checkpoints). Sign convention, everywhere: first minus second.
"""

from __future__ import annotations

import math

import numpy as np

from bench.results import inference, stats
from bench.results.inference import ALPHA  # noqa: F401  (re-exported: the level every caller tests at)

CONFIDENCE = stats.CONFIDENCE


def interval(low: float, high: float, method: str) -> dict:
    """A 95 % interval as the summaries record it; `method` is a key of render.text's method texts."""
    return {"low": float(low), "high": float(high), "method": method, "confidence": CONFIDENCE}


def t_interval(values: list[float], bounds: tuple[float, float] = (-math.inf, math.inf)) -> dict:
    """Student t interval of the mean of `values` (at least two), clipped to the metric's range `bounds`.
    Over seeds only, without test-set sampling: for run-level summaries where no shared test set exists."""
    from scipy import stats as sps  # imported here: a cached analysis needs no scipy (bench.render.cache)

    arr = np.asarray(values, dtype=float)
    n = len(arr)
    mean, sd = float(arr.mean()), float(arr.std(ddof=1))
    half = float(sps.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return interval(max(mean - half, bounds[0]), min(mean + half, bounds[1]), "t_seeds")


def checkpoints(y: np.ndarray, first: np.ndarray, second: np.ndarray, *, num_classes: int) -> dict:
    """Two trained networks on one test set, first minus second: the mid-p McNemar test (`test`), its Tango score
    interval, and the macro-F1 difference with a paired bootstrap interval. A statement about these checkpoints
    only, never a verdict about the models; `favours` is "first", "second" or "none" (test and interval agree)."""
    correct_first, correct_second = first == y, second == y
    t = inference.mcnemar_midp(correct_first, correct_second, alpha=ALPHA)
    f1_ci = stats.paired_difference_intervals(y, first, second, num_classes=num_classes)["f1"]
    f1_first = float(stats.macro_scores(y, first, num_classes=num_classes)["f1"])
    f1_second = float(stats.macro_scores(y, second, num_classes=num_classes)["f1"])
    significant = t["p_value"] < ALPHA
    excludes_zero = t["low"] > 0 or t["high"] < 0
    favours = ("first" if t["diff"] > 0 else "second") if significant and excludes_zero else "none"
    return {"test": t, "accuracy_first": float(correct_first.mean()), "accuracy_second": float(correct_second.mean()),
            "f1_first": f1_first, "f1_second": f1_second, "f1_diff": f1_first - f1_second,
            "acc_diff_ci": interval(t["low"], t["high"], "mcnemar_midp_tango_score"),
            "f1_diff_ci": interval(*f1_ci, "paired_bootstrap"), "significant": significant,
            "excludes_zero": excludes_zero, "favours": favours}
