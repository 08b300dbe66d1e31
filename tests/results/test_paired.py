"""bench.results.paired: intervals as the summaries record them (the tests live in test_inference.py)."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from bench.results import paired


def test_t_interval_over_seeds_matches_scipy_and_is_clipped():
    values = [0.80, 0.82, 0.81]
    ci = paired.t_interval(values, (0.0, 1.0))
    lo, hi = sps.t.interval(0.95, 2, loc=np.mean(values), scale=sps.sem(values))
    assert (ci["low"], ci["high"]) == pytest.approx((lo, hi))
    assert ci["method"] == "t_seeds" and ci["confidence"] == 0.95
    wide = paired.t_interval([0.0, 0.1], (0.0, 1.0))
    assert wide["low"] == 0.0 and wide["high"] <= 1.0 and not math.isnan(wide["high"])
