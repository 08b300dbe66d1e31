"""Numbers about training times: the unit a column of durations is shown in, and warm-up outliers.

Words (the unit's name in the active language) are bench.render's; this module only decides which unit.
"""

from __future__ import annotations

import math
import statistics

# A seed's training time is flagged as a warm-up outlier (the first job paying one-off costs: caches, allocator,
# kernel selection) when it exceeds this many times the median of the model's other seeds, of which there must be
# at least two: it is shown beside the mean, not averaged into it.
WARMUP_FACTOR = 1.5

# (seconds per unit, unit key, default decimals), smallest first; a column takes the first whose range fits.
UNITS = ((1.0, "s", 1), (60.0, "min", 1), (3600.0, "h", 2))
# Upper bounds (seconds) of the seconds and minutes units: past two of a unit, the next one reads better.
UNIT_LIMITS = (120.0, 7200.0)


def time_scale(values: list[float]) -> tuple[float, str, int]:
    """One unit for a column of durations (seconds), by its largest value: (seconds per unit, unit key, decimals).

    Decimals grow (up to 3) until the smallest positive value shows two significant digits: a 0.6 s MLP beside a
    40-minute VGG16 must not print as 0.0 min."""
    top = max(values, default=0.0)
    scale, unit, digits = UNITS[0] if top < UNIT_LIMITS[0] else UNITS[1] if top < UNIT_LIMITS[1] else UNITS[2]
    smallest = min((v for v in values if v > 0), default=None)
    if smallest is not None and smallest / scale < 0.1:
        digits = max(digits, min(3, 1 - math.floor(math.log10(smallest / scale))))
    return scale, unit, digits


def warmup_outliers(times: dict[int, float]) -> set[int]:
    """The seeds whose time exceeds WARMUP_FACTOR times the median of the model's other seeds (two or more)."""
    out = set()
    for seed, t in times.items():
        others = [v for k, v in times.items() if k != seed]
        if len(others) >= 2 and t > WARMUP_FACTOR * statistics.median(others):
            out.add(seed)
    return out
