"""Intervals as the summaries record them, and the significance level every test of the report uses.

What remains of the old per-seed decision rule (exact McNemar + paired bootstrap, majority over seeds):
issue 21 replaced it by bench.results.inference (the configuration-level test decides about models; the
per-seed mid-p McNemar only describes two checkpoints). Sign convention, everywhere: first minus second.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from bench.results import stats
from bench.results.inference import ALPHA  # noqa: F401  (re-exported: the level every caller tests at)

CONFIDENCE = stats.CONFIDENCE


def interval(low: float, high: float, method: str) -> dict:
    """A 95 % interval as the summaries record it; `method` is a key of render.text's method texts."""
    return {"low": float(low), "high": float(high), "method": method, "confidence": CONFIDENCE}


def t_interval(values: list[float], bounds: tuple[float, float] = (-math.inf, math.inf)) -> dict:
    """Student t interval of the mean of `values` (at least two), clipped to the metric's range `bounds`.
    Over seeds only, without test-set sampling: for run-level summaries where no shared test set exists."""
    arr = np.asarray(values, dtype=float)
    n = len(arr)
    mean, sd = float(arr.mean()), float(arr.std(ddof=1))
    half = float(sps.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return interval(max(mean - half, bounds[0]), min(mean + half, bounds[1]), "t_seeds")
