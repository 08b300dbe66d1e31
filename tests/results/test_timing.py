"""The time column's unit and the warm-up rule, on durations with a known answer."""

from bench.results import timing


def test_warmup_outlier_needs_two_other_seeds_to_stand_out_from():
    assert timing.warmup_outliers({0: 300.0, 1: 61.0, 2: 59.0}) == {0}
    assert timing.warmup_outliers({0: 300.0, 1: 61.0}) == set()  # one other seed cannot tell which is odd
    # Exactly at the factor is not over it.
    assert timing.warmup_outliers({0: 1.5 * 60.0, 1: 60.0, 2: 60.0}) == set()


def test_unit_follows_the_largest_value_and_decimals_the_smallest():
    assert timing.time_scale([59.0, 61.0]) == (1.0, "s", 1)
    assert timing.time_scale([119.9])[1] == "s" and timing.time_scale([120.0])[1] == "min"
    assert timing.time_scale([9000.0])[:2] == (3600.0, "h")
    scale, unit, digits = timing.time_scale([0.6, 300.0])
    assert unit == "min" and float(f"{0.6 / scale:.{digits}f}") > 0  # a 0.6 s job never prints as 0.0 min
    assert timing.time_scale([0.0001, 7300.0])[2] == 3  # three decimals at most
    assert timing.time_scale([]) == (1.0, "s", 1)
