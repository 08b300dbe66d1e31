"""bench.render.verdicts: the report's statistical sentences never say more than their test (issue 21)."""

import pytest

from bench.render import i18n, verdicts


@pytest.mark.parametrize("decision,significant,excludes_zero,verdict", [
    ("a", True, True, "these networks differ: CNN's more accurate"),
    ("b", True, True, "these networks differ: MLP's more accurate"),
    ("none", True, False, "not established: the interval includes 0"),
    ("none", False, True, "not established: McNemar p ≥ 0.05"),
    ("none", False, False, "no significant difference between these networks"),
])
def test_a_seed_verdict_is_about_two_networks_and_needs_test_and_interval(decision, significant, excludes_zero,
                                                                          verdict):
    assert verdicts.seed_verdict(decision, significant, excludes_zero, "CNN", "MLP") == verdict


def configuration(**kw):
    c = {"difference": 0.02, "low": 0.01, "high": 0.03, "p_value": 0.004, "adjusted_p_value": 0.012,
         "reason": None}
    return c | kw


def test_the_pair_verdict_follows_the_holm_adjusted_configuration_test():
    p = {"a_title": "CNN", "b_title": "MLP", "significant": True, "configuration": configuration()}
    assert verdicts.pair_verdict(p) == ("CNN better (+2.00 points [+1.00, +3.00], p = 0.004, "
                                        "Holm-adjusted p = 0.012)")
    p = {**p, "significant": False, "configuration": configuration(low=-0.01, p_value=0.03, adjusted_p_value=0.09)}
    assert verdicts.pair_verdict(p).startswith("no established difference between the models (+2.00 points")
    # Significant alone but not after Holm: the unadjusted interval excludes 0, and the verdict says why it is
    # still "no established difference" instead of contradicting its own interval.
    p = {**p, "configuration": configuration(p_value=0.034, adjusted_p_value=0.101)}
    assert verdicts.pair_verdict(p) == ("no established difference between the models once adjusted for the other "
                                        "comparisons (+2.00 points [+1.00, +3.00], p = 0.034, Holm-adjusted "
                                        "p = 0.101; the interval is not adjusted)")
    p = {**p, "configuration": configuration(reason="too_few_seeds", low=None, high=None, p_value=None)}
    assert verdicts.pair_verdict(p) == "not tested: the models need at least 3 healthy seeds each"


def agg(n, low=None, caution=True):
    inf = {"low": low, "high": None if low is None else low + 0.02, "caution": caution,
           "between_seed_sd": 0.004, "test_set_se": 0.003}
    return {"mean": 0.5, "n": n, "inference": inf, "ci": {"low": 0.47, "high": 0.53}}


def spaced(text: str) -> str:
    """A sentence with its no-break spaces (a number and its unit: "49.0\u00a0%", text.percent) as spaces."""
    return text.replace("\u00a0", " ")


def test_the_mean_sentence_gives_an_interval_only_from_three_seeds_and_cautions_below_five():
    seeds = [{"accuracy": 0.49}, {"accuracy": 0.51}]
    assert spaced(verdicts.mean_sentence(agg(2), seeds)) == ("seed values 49.0 %, 51.0 %; no interval over seeds: with "
                                                     "fewer than 3 seeds the t multiplier makes one meaningless")
    three = spaced(verdicts.mean_sentence(agg(3, 0.49), seeds + [{"accuracy": 0.5}]))
    assert three.startswith("mean 50.0 % over 3 seeds, interval [49.0 %, 51.0 %] counting both seed-to-seed")
    assert "between-seed SD 0.40 points, test-set standard error 0.30 points" in three and "Caution" in three
    assert "Caution" not in verdicts.mean_sentence(agg(5, 0.49, caution=False), seeds * 2 + seeds[:1])
    assert spaced(verdicts.mean_sentence(agg(1), seeds[:1])).startswith("one seed: 50.0 %, Wilson interval")


def test_degenerate_power_and_reference_sentences():
    assert spaced(verdicts.degenerate_sentence({"seed": 2, "rule": "one_class_share", "class": 3, "share": 0.97,
                                                "threshold": 0.95})) == \
        "seed 2 is degenerate: one class takes 97.0 % of its test predictions (threshold 95 %)"
    assert verdicts.degenerate_sentence({"seed": 1, "rule": "loss_not_finite", "epochs": [3]}) == \
        "seed 1 is degenerate: its training loss became non-finite"
    pw = {"difference": 0.0312, "n_test": 10000, "n_seeds": 3, "power": 0.8}
    assert spaced(verdicts.power_sentence(pw)).startswith("With 10,000 test images and 3 seeds per model, the "
                                                  "configuration-level test at 0.05 detects a true accuracy "
                                                  "difference of 3.12 points with 80 % power")
    assert "cannot call one model better" in verdicts.power_sentence({**pw, "difference": None})
    # Six pairs: the power is Holm's at its strictest, and the sentence says so.
    assert spaced(verdicts.power_sentence({**pw, "family": 6})).startswith(
        "With 10,000 test images and 3 seeds per model, the configuration-level test at Holm's strictest level "
        "(0.05 over 6 comparisons) detects a true accuracy difference of 3.12 points with 80 % power, judging from "
        "this run's own spread between seeds")
    plain = {"accuracy": -0.1, "accuracy_ci": None}
    assert verdicts.reference_sentence("CNN", plain) == "CNN \u221210.00 points (a plain difference, without interval)"


def test_every_sentence_has_its_persian_translation():
    with i18n.activated(i18n.Language("fa")):
        text = verdicts.power_sentence({"difference": 0.0312, "n_test": 10000, "n_seeds": 3, "power": 0.8})
    assert "آزمون سطح پیکربندی" in text and "۸۰٪" in text
