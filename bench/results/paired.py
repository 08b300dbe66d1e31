"""The one paired comparison of two classifiers on the same test images, and its one decision rule.

Sign convention, everywhere: differences are FIRST minus SECOND, where the caller chooses which
classifier comes first (the report: the model with the higher mean accuracy; `bench compare`: run B,
so that its differences read B - A). The decision names the side that wins, "first" or "second", or
"none"; callers name the sides in their own words at render time.

A difference at one seed is *established* when the exact McNemar test rejects equal error rates at
ALPHA and the paired percentile-bootstrap interval of the accuracy difference excludes 0 on the same
side. Over several seeds, a side is called better when that holds in its favour in more than half of
the paired seeds (`majority`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from bench.results import stats

ALPHA = 0.05
CONFIDENCE = stats.CONFIDENCE
FIRST, SECOND, NONE = "first", "second", "none"


def interval(low: float, high: float, method: str) -> dict:
    """A 95 % interval as the summaries record it; `method` is a key of render.text's method texts."""
    return {"low": float(low), "high": float(high), "method": method, "confidence": CONFIDENCE}


def t_interval(values: list[float], bounds: tuple[float, float] = (-math.inf, math.inf)) -> dict:
    """Student t interval of the mean of `values` (at least two), clipped to the metric's range `bounds`."""
    arr = np.asarray(values, dtype=float)
    n = len(arr)
    mean, sd = float(arr.mean()), float(arr.std(ddof=1))
    half = float(sps.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return interval(max(mean - half, bounds[0]), min(mean + half, bounds[1]), "t_seeds")


def decide(p_value: float, ci: tuple[float, float]) -> str:
    """FIRST, SECOND or NONE: a side wins only when the test rejects and the interval agrees."""
    if p_value >= ALPHA:
        return NONE
    if ci[0] > 0:
        return FIRST
    if ci[1] < 0:
        return SECOND
    return NONE


def majority(n_first: int, n_second: int, n: int) -> str:
    """The side established in more than half of `n` paired seeds, else NONE."""
    if n_first * 2 > n:
        return FIRST
    if n_second * 2 > n:
        return SECOND
    return NONE


@dataclass(frozen=True)
class Paired:
    """Two classifiers' predictions of the same test images, compared (differences: first minus second)."""

    n: int                      # test images compared
    first_only: int             # images only the first classifier got right (McNemar's discordant count)
    second_only: int            # images only the second classifier got right
    p_value: float              # exact McNemar test, two-sided
    accuracy_first: float       # accuracy of the first classifier on these images
    accuracy_second: float      # accuracy of the second
    f1_first: float             # macro F1 of the first classifier
    f1_second: float            # macro F1 of the second
    acc_diff: float             # accuracy, first minus second
    acc_diff_ci: tuple[float, float]  # paired percentile-bootstrap interval of acc_diff
    f1_diff: float              # macro F1, first minus second
    f1_diff_ci: tuple[float, float]   # paired percentile-bootstrap interval of f1_diff
    significant: bool           # McNemar p < ALPHA
    excludes_zero: bool         # the accuracy interval excludes 0
    decision: str               # FIRST, SECOND or NONE (decide)


def compare_predictions(y: np.ndarray, pred_first: np.ndarray, pred_second: np.ndarray, *,
                        num_classes: int) -> Paired:
    """McNemar and paired bootstrap intervals of first minus second, and the decision that follows them."""
    correct_first, correct_second = pred_first == y, pred_second == y
    test = stats.mcnemar_exact(correct_first, correct_second)
    diffs = stats.paired_difference_intervals(y, pred_first, pred_second, num_classes=num_classes)
    f1_first = float(stats.macro_scores(y, pred_first, num_classes=num_classes)["f1"])
    f1_second = float(stats.macro_scores(y, pred_second, num_classes=num_classes)["f1"])
    acc_first, acc_second = float(correct_first.mean()), float(correct_second.mean())
    acc_ci = diffs["accuracy"]
    return Paired(n=int(len(y)), first_only=test["a_only"], second_only=test["b_only"], p_value=test["p_value"],
                  accuracy_first=acc_first, accuracy_second=acc_second, f1_first=f1_first, f1_second=f1_second,
                  acc_diff=acc_first - acc_second, acc_diff_ci=acc_ci, f1_diff=f1_first - f1_second,
                  f1_diff_ci=diffs["f1"], significant=test["p_value"] < ALPHA,
                  excludes_zero=acc_ci[0] > 0 or acc_ci[1] < 0, decision=decide(test["p_value"], acc_ci))
