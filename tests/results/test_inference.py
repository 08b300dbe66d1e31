"""bench.results.inference on simulated studies with a KNOWN truth, and on published worked examples.

The simulator: a configuration c has a base logit beta_c; each test image i a difficulty d_i ~ N(0, tau) and a
configuration-specific twist e_i ~ N(0, tau_e) (so that two configurations can err on different images); each
training run (seed) s a random effect u_s ~ N(0, sigma). Image i is classified correctly by run s of c with
probability expit(beta_c + u_s - d_i + sign_c * e_i). Every simulated study draws a fresh test set and fresh
seeds, so intervals and tests are judged against the population truth, test-set sampling included. The true
accuracy is E[expit(beta + Z * sqrt(sigma^2 + tau^2 + tau_e^2))], computed by Gauss-Hermite quadrature.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.special import expit

from bench.errors import BenchError
from bench.results import inference as inf
from bench.results.stats import calibration

N_IMAGES = 2000
STUDIES = 600


@dataclass(frozen=True)
class World:
    beta: float  # base logit of the configuration (its accuracy before shifts)
    tau: float  # SD of the images' difficulty (large: each image is nearly always right or always wrong)
    tau_e: float  # SD of the configuration-specific twist per image (how differently two configurations err)
    sigma: float  # SD of a training run's random effect on the logit (seed-to-seed variation)


# Seeds matter: a run's random effect moves accuracy by about 2 points (the per-seed McNemar vote is fooled).
SEEDS_MATTER = World(beta=3.0, tau=3.0, tau_e=1.5, sigma=0.3)
# The test set matters: runs agree on 90 % of images, configurations err on different images.
TEST_SET_MATTERS = World(beta=4.0, tau=6.0, tau_e=3.0, sigma=0.05)


def true_accuracy(world: World, shift: float = 0.0) -> float:
    x, w = np.polynomial.hermite_e.hermegauss(120)  # probabilists' Hermite: weight exp(-x^2 / 2)
    scale = math.sqrt(world.sigma**2 + world.tau**2 + world.tau_e**2)
    return float((w * expit(world.beta + shift + x * scale)).sum() / w.sum())


def draw_images(rng, world: World, studies: int, n: int = N_IMAGES):
    """One test set per study: (difficulty, twist), each (studies, 1, n)."""
    return rng.normal(0, world.tau, (studies, 1, n)), rng.normal(0, world.tau_e, (studies, 1, n))


def simulate(rng, world: World, images, seeds: int, *, shift=0.0, sign=1.0, u=None) -> np.ndarray:
    """Correctness (studies, seeds, images); `sign` -1 flips the twist (a configuration that errs elsewhere),
    `u` shares the seeds' random effects (the same seeds run for both sides)."""
    d, e = images
    u = u if u is not None else rng.normal(0, world.sigma, (d.shape[0], seeds, 1))
    return (rng.random((d.shape[0], seeds, d.shape[2])) < expit(world.beta + shift + u - d + sign * e)).astype(np.int8)


def as_predictions(correct: np.ndarray) -> np.ndarray:
    """Predictions against all-zero labels: right -> class 0, wrong -> class 1."""
    return (1 - correct).astype(np.int8)


LABELS = np.zeros(N_IMAGES, dtype=np.int64)


def run_tests(ca, cb, seeds_a, seeds_b, **kw) -> list[dict]:
    return [inf.compare_configurations(LABELS, as_predictions(a), as_predictions(b), seeds_a=seeds_a, seeds_b=seeds_b,
                                       **kw) for a, b in zip(ca, cb)]


def rejection_rate(results) -> float:
    return float(np.mean([r["decision"] != "none" for r in results]))


def mcnemar_vote_rate(ca, cb) -> float:
    """The rule issue 21 rejects: exact McNemar per seed pair, 'better' when significant in most seed pairs."""
    n10 = ((ca == 1) & (cb == 0)).sum(-1)
    n01 = ((ca == 0) & (cb == 1)).sum(-1)
    p = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(n10, n01), n10 + n01, 0.5))
    wins_a = ((p < 0.05) & (n10 > n01)).sum(1)
    wins_b = ((p < 0.05) & (n01 > n10)).sum(1)
    return float(np.mean(np.maximum(wins_a, wins_b) > ca.shape[1] / 2))


# ----------------------------------------------------------------------------- configuration-level test


def test_same_configuration_false_positive_rate_is_near_alpha_where_the_mcnemar_vote_is_not():
    rng = np.random.default_rng(1)
    images = draw_images(rng, SEEDS_MATTER, STUDIES)
    ca, cb = simulate(rng, SEEDS_MATTER, images, 3), simulate(rng, SEEDS_MATTER, images, 3)
    results = run_tests(ca, cb, [0, 1, 2], [3, 4, 5])
    assert 0.02 <= rejection_rate(results) <= 0.08, rejection_rate(results)
    assert mcnemar_vote_rate(ca, cb) > 0.3  # per-checkpoint tests take seed differences for real ones
    assert all(r["method"] == "welch_t_seeds_plus_test_set" and not r["paired"] and r["unit"] == "configuration"
               for r in results)
    centre = np.mean([(r["low"] + r["high"]) / 2 for r in results])  # intervals sit around 0
    assert abs(centre) < 0.003


def test_equal_true_accuracy_with_different_error_profiles_needs_the_test_set_term():
    """A and B err on different images (opposite twists): a test set favours one of them by chance. A Welch test
    over the seeds' accuracies alone, blind to the test set, rejects far too often."""
    rng = np.random.default_rng(2)
    images = draw_images(rng, TEST_SET_MATTERS, STUDIES)
    ca = simulate(rng, TEST_SET_MATTERS, images, 3)
    cb = simulate(rng, TEST_SET_MATTERS, images, 3, sign=-1.0)
    results = run_tests(ca, cb, [0, 1, 2], [3, 4, 5])
    assert 0.02 <= rejection_rate(results) <= 0.08, rejection_rate(results)
    welch_only = stats.ttest_ind(ca.mean(-1), cb.mean(-1), axis=1, equal_var=False).pvalue
    assert np.mean(welch_only < 0.05) > 0.15
    assert np.mean([r["test_set_se"] for r in results]) > np.mean([r["between_seed_sd_a"] for r in results])


def test_shared_seeds_are_paired_and_keep_their_level():
    rng = np.random.default_rng(3)
    images = draw_images(rng, SEEDS_MATTER, STUDIES)
    u = rng.normal(0, SEEDS_MATTER.sigma, (STUDIES, 3, 1))  # seed s of A and of B share their random effect
    ca = simulate(rng, SEEDS_MATTER, images, 3, u=u)
    cb = simulate(rng, SEEDS_MATTER, images, 3, u=u, sign=-1.0)
    results = run_tests(ca, cb, [0, 1, 2], [0, 1, 2])
    assert all(r["paired"] and r["method"] == "paired_t_seeds_plus_test_set" for r in results)
    assert 0.02 <= rejection_rate(results) <= 0.08, rejection_rate(results)
    # Rows are matched by seed number, not by position.
    swapped = inf.compare_configurations(LABELS, as_predictions(ca[0]), as_predictions(cb[0][::-1]),
                                         seeds_a=[0, 1, 2], seeds_b=[2, 1, 0])
    assert swapped["p_value"] == pytest.approx(results[0]["p_value"])
    unpaired = run_tests(ca[:20], cb[:20], [0, 1, 2], [0, 1, 2], paired=False)
    assert not any(r["paired"] for r in unpaired)


def test_a_true_difference_is_found_and_named_with_the_right_side():
    rng = np.random.default_rng(4)
    images = draw_images(rng, TEST_SET_MATTERS, 300)
    ca = simulate(rng, TEST_SET_MATTERS, images, 3, shift=0.6)
    cb = simulate(rng, TEST_SET_MATTERS, images, 3)
    results = run_tests(ca, cb, [0, 1, 2], [3, 4, 5])
    truth = true_accuracy(TEST_SET_MATTERS, 0.6) - true_accuracy(TEST_SET_MATTERS)  # about 0.028
    assert rejection_rate(results) > 0.9
    assert {r["decision"] for r in results} <= {"a", "none"}
    assert abs(np.mean([r["difference"] for r in results]) - truth) < 0.003


def test_power_at_the_minimal_detectable_difference_is_the_promised_power():
    rng = np.random.default_rng(5)
    world = SEEDS_MATTER
    # What the power formula asks for, measured on one large simulated study: the SD of seed-level accuracy on a
    # fixed test set, and the SD over images of the two configurations' per-image chance of being right.
    d, e = draw_images(rng, world, 1, 20000)
    u = rng.normal(0, world.sigma, (1, 400, 1))
    sd = float((rng.random((400, N_IMAGES)) < expit(world.beta + u - d + e)[0, :, :N_IMAGES]).mean(1).std(ddof=1))
    shift = 0.3
    for _ in range(2):  # the per-image SD depends on the shift, the shift on the MDD: two rounds settle it
        per_image = expit(world.beta + shift + u - d + e).mean(1) - expit(world.beta + u - d + e).mean(1)
        mdd = inf.minimal_detectable_difference(N_IMAGES, 3, 3, between_seed_sd=sd, accuracy=true_accuracy(world),
                                                test_set_sd=float(per_image.std()))
        target = true_accuracy(world) + mdd["difference"]
        shift = optimize.brentq(lambda b: true_accuracy(world, b) - target, 0.0, 3.0)
    images = draw_images(rng, world, STUDIES)
    ca, cb = simulate(rng, world, images, 3, shift=shift), simulate(rng, world, images, 3)
    power = rejection_rate(run_tests(ca, cb, [0, 1, 2], [3, 4, 5]))
    assert 0.7 <= power <= 0.9, (mdd, power)


def test_decision_never_contradicts_its_interval_or_its_p_value():
    rng = np.random.default_rng(6)
    images = draw_images(rng, SEEDS_MATTER, 200)
    ca = simulate(rng, SEEDS_MATTER, images, 3, shift=0.1)
    cb = simulate(rng, SEEDS_MATTER, images, 4)
    results = run_tests(ca, cb, [0, 1, 2], [0, 1, 2, 3])
    assert {r["decision"] for r in results} >= {"a", "none"}
    for r in results:
        assert r["low"] <= r["difference"] <= r["high"]
        expected = "a" if r["low"] > 0 else "b" if r["high"] < 0 else "none"
        assert r["decision"] == expected
        assert (r["p_value"] < r["alpha"]) == (r["decision"] != "none")


def test_too_few_seeds_gives_no_test():
    rng = np.random.default_rng(7)
    images = draw_images(rng, SEEDS_MATTER, 1)
    ca, cb = simulate(rng, SEEDS_MATTER, images, 1)[0], simulate(rng, SEEDS_MATTER, images, 3)[0]
    r = inf.compare_configurations(LABELS, as_predictions(ca), as_predictions(cb), seeds_a=[0], seeds_b=[0, 1, 2])
    assert r["decision"] == "none" and r["reason"] == "too_few_seeds"
    assert r["p_value"] is None and r["low"] is None and r["difference"] == pytest.approx(ca.mean() - cb.mean())


def test_compare_accepts_logits_and_refuses_bad_input():
    labels = np.array([0, 1, 2, 1])
    logits = np.eye(3)[[[0, 1, 2, 1], [0, 1, 2, 2]]]  # (2, 4, 3)
    r = inf.compare_configurations(labels, logits, logits.argmax(-1), seeds_a=[0, 1], seeds_b=[0, 1])
    assert r["difference"] == 0 and r["decision"] == "none" and r["paired"]
    with pytest.raises(BenchError, match="paired must be one of"):
        inf.compare_configurations(labels, logits, logits, seeds_a=[0, 1], seeds_b=[0, 1], paired="yes")
    with pytest.raises(BenchError, match="same seeds"):
        inf.compare_configurations(labels, logits, logits, seeds_a=[0, 1], seeds_b=[2, 3], paired=True)
    with pytest.raises(BenchError, match="distinct seeds"):
        inf.compare_configurations(labels, logits, logits, seeds_a=[0, 0], seeds_b=[0, 1])
    with pytest.raises(BenchError, match=r"must be \(seeds, 4\)"):
        inf.compare_configurations(labels, logits[:, :3], logits, seeds_a=[0, 1], seeds_b=[0, 1])
    with pytest.raises(BenchError, match="alpha"):
        inf.compare_configurations(labels, logits, logits, seeds_a=[0, 1], seeds_b=[0, 1], alpha=5)


# ----------------------------------------------------------------------------- over-seeds interval


@pytest.mark.parametrize("world", [SEEDS_MATTER, TEST_SET_MATTERS], ids=["seeds_matter", "test_set_matters"])
@pytest.mark.parametrize("seeds", [3, 5])
def test_over_seeds_interval_covers_the_true_accuracy_at_its_nominal_rate(world, seeds):
    rng = np.random.default_rng(10 + seeds)
    c = simulate(rng, world, draw_images(rng, world, STUDIES), seeds)
    truth = true_accuracy(world)
    hits, naive_hits = [], []
    for study in c:
        r = inf.mean_interval(study.mean(1), study)
        hits.append(r["low"] <= truth <= r["high"])
        acc = study.mean(1)
        naive = stats.t.interval(0.95, seeds - 1, loc=acc.mean(), scale=acc.std(ddof=1) / math.sqrt(seeds))
        naive_hits.append(naive[0] <= truth <= naive[1])
    # Nominal 0.95. Measured on 2,000 studies: 0.92 at 3 seeds when seeds dominate (Satterthwaite's df is a little
    # liberal when the 2-df seed term dominates: why `caution` is set below 5 seeds), 0.94-0.96 otherwise.
    assert 0.9 <= np.mean(hits) <= 0.985, np.mean(hits)
    if world is TEST_SET_MATTERS:
        assert np.mean(naive_hits) < 0.8  # the seeds-only t interval leaves the test set out
    assert r["caution"] == (seeds < 5) and r["method"] == "t_seeds_plus_test_set"


def test_over_seeds_interval_refuses_two_seeds_and_accepts_a_given_test_set_se():
    r = inf.mean_interval([0.7, 0.72], np.ones((2, 10)))
    assert r["low"] is None and r["high"] is None and r["reason"] == "too_few_seeds" and r["caution"]
    r = inf.mean_interval([0.70, 0.72, 0.71], test_set_se=0.0)
    t = stats.t.interval(0.95, 2, loc=0.71, scale=0.01 / math.sqrt(3))
    assert (r["low"], r["high"]) == pytest.approx(t)  # no test-set part: the plain t interval over seeds
    # With a test-set part: variance adds, degrees of freedom by Welch-Satterthwaite (the given SE counts as known).
    both = inf.mean_interval([0.70, 0.72, 0.71], test_set_se=0.005)
    var = 0.01**2 / 3 + 0.005**2
    df = var**2 / ((0.01**2 / 3) ** 2 / 2)
    half = stats.t.ppf(0.975, df) * math.sqrt(var)
    assert (both["low"], both["high"], both["df"]) == pytest.approx((0.71 - half, 0.71 + half, df))
    assert both["test_set_se"] == 0.005 and both["between_seed_sd"] == pytest.approx(0.01)
    with pytest.raises(BenchError, match="exactly one"):
        inf.mean_interval([0.7, 0.71, 0.72])


def test_macro_f1_test_set_se_matches_the_closed_form_where_f1_tracks_accuracy():
    """Two balanced classes, errors independent of the class: macro F1 moves with accuracy, so the bootstrap's
    shared (test-set) SE of mean F1 must come out as the closed form for accuracy (module docstring)."""
    rng = np.random.default_rng(8)
    c = simulate(rng, SEEDS_MATTER, draw_images(rng, SEEDS_MATTER, 1, 1000), 5)[0]
    labels = rng.integers(0, 2, 1000)
    pred = np.where(c == 1, labels, 1 - labels)
    se = inf.macro_f1_test_set_se(labels, pred, num_classes=2, n_resamples=2000)
    closed = math.sqrt(inf.image_sampling_variance(c.astype(float)))
    assert se == pytest.approx(closed, rel=0.1)
    assert inf.macro_f1_test_set_se(labels, pred[:1], num_classes=2) is None


# ----------------------------------------------------------------------------- one checkpoint against another


def paired_arrays(both: int, a_only: int, b_only: int, neither: int):
    a = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * neither, bool)
    b = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * neither, bool)
    return a, b


def test_mcnemar_midp_and_exact_on_the_bentur_table():
    """Fagerland, Lydersen & Laake (2013), airway hyper-responsiveness (Bentur et al. 2009): 1 and 7 discordant
    pairs of 21; exact conditional p = 0.070, mid-p = 0.039."""
    r = inf.mcnemar_midp(*paired_arrays(1, 1, 7, 12))
    assert (r["n10"], r["n01"], r["n"]) == (1, 7, 21)
    assert r["exact_p_value"] == pytest.approx(18 / 256)  # 2 * P(X <= 1), X ~ Bin(8, 1/2)
    assert r["p_value"] == pytest.approx(10 / 256)  # minus P(X = 1)
    assert round(r["exact_p_value"], 3) == 0.070 and round(r["p_value"], 3) == 0.039
    assert r["diff"] == pytest.approx(-6 / 21) and r["unit"] == "checkpoint"


def test_tango_interval_on_the_bentur_table_and_its_defining_equations():
    """Published: Tango's asymptotic score interval for the Bentur data is -0.517 to -0.026 (Fagerland,
    Lydersen & Laake, Statistical Analysis of Contingency Tables, 2017, chapter 8)."""
    r = inf.mcnemar_midp(*paired_arrays(1, 1, 7, 12))
    assert round(r["low"], 3) == -0.517 and round(r["high"], 3) == -0.026
    # The bounds solve the score equation, with the constrained MLE found here numerically, not in closed form.
    b, c, n, z = 1, 7, 21, stats.norm.ppf(0.975)

    def score(delta):
        nll = lambda q: -(b * np.log(q + delta) + c * np.log(q) + (n - b - c) * np.log(1 - 2 * q - delta))  # noqa: E731
        q = optimize.minimize_scalar(nll, bounds=(max(0, -delta) + 1e-12, (1 - delta) / 2 - 1e-12),
                                     method="bounded", options={"xatol": 1e-13}).x
        return (b - c - n * delta) / math.sqrt(n * (2 * q + delta * (1 - delta)))

    assert score(r["low"]) == pytest.approx(z, abs=1e-4)
    assert score(r["high"]) == pytest.approx(-z, abs=1e-4)


def test_mcnemar_edge_tables():
    r = inf.mcnemar_midp(*paired_arrays(5, 0, 0, 5))
    assert r["p_value"] == 1.0 and r["exact_p_value"] == 1.0 and r["low"] < 0 < r["high"]
    r = inf.mcnemar_midp(*paired_arrays(0, 4, 0, 0))
    assert r["diff"] == 1.0 and r["high"] == 1.0 and 0 < r["low"] < 1
    r = inf.mcnemar_midp(*paired_arrays(3, 6, 6, 3))
    assert r["p_value"] == pytest.approx(1.0) and r["low"] == pytest.approx(-r["high"])
    with pytest.raises(BenchError, match="one length"):
        inf.mcnemar_midp([True, False], [True])


# ----------------------------------------------------------------------------- multiplicity and ranking


def test_holm_by_hand():
    # Sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> monotone 0.06).
    r = inf.holm({"w": 0.01, "x": 0.04, "y": 0.03, "z": 0.005}, alpha=0.05)
    assert r["adjusted"] == pytest.approx({"w": 0.03, "x": 0.06, "y": 0.06, "z": 0.02})
    assert r["reject"] == {"w": True, "x": False, "y": False, "z": True}
    r = inf.holm([0.5, None, 0.01])
    assert r["adjusted"] == [0.5, None, 0.02] and r["reject"] == [False, False, True]
    with pytest.raises(BenchError, match=r"\[0, 1\]"):
        inf.holm([1.5])


def test_holm_agrees_with_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(9).uniform(0, 0.1, 12)
    reject, adjusted, _, _ = multitest.multipletests(p, alpha=0.05, method="holm")
    r = inf.holm(list(p))
    assert r["adjusted"] == pytest.approx(list(adjusted)) and r["reject"] == list(reject)


def test_ranking_follows_the_adjusted_tests_and_ties_share_a_rank():
    rng = np.random.default_rng(11)
    world = TEST_SET_MATTERS
    images = draw_images(rng, world, 1)
    sims = {"best": simulate(rng, world, images, 3, shift=0.8)[0], "twin_a": simulate(rng, world, images, 3)[0],
            "twin_b": simulate(rng, world, images, 3)[0], "worst": simulate(rng, world, images, 3, shift=-0.8)[0]}
    preds = {k: as_predictions(v) for k, v in sims.items()}
    seeds = {"best": [0, 1, 2], "twin_a": [3, 4, 5], "twin_b": [6, 7, 8], "worst": [9, 10, 11]}
    out = inf.rank_configurations(LABELS, preds, seeds=seeds)
    ranks = {row["model"]: row["rank"] for row in out["ranking"]}
    assert ranks == {"best": 1, "twin_a": 2, "twin_b": 2, "worst": 4}
    assert len(out["comparisons"]) == 6 and out["adjustment"] == "holm"
    for row in out["comparisons"]:  # a ranks above b only where the adjusted test says so
        above = ranks[row["first"]] < ranks[row["second"]]
        assert not above or row["significant"]
        assert row["adjusted_p_value"] >= row["p_value"]


# ----------------------------------------------------------------------------- calibration


def test_ece_per_seed_matches_the_report_and_has_a_bootstrap_interval():
    rng = np.random.default_rng(12)
    labels = rng.integers(0, 10, 1000)
    logits = rng.normal(0, 2, (3, 1000, 10))
    logits[np.arange(3)[:, None], np.arange(1000), labels] += rng.normal(2, 1, (3, 1000))
    out = inf.calibration_over_seeds(labels, logits, n_bins=15)
    assert out["resamples"] == 10_000 and out["bins"] == 15 and out["bootstrap_seed"] == 0
    for i, seed in enumerate(out["per_seed"]):
        assert seed["ece"] == pytest.approx(calibration(labels, logits[i], n_bins=15)["ece"])
        assert seed["low"] < seed["ece"] < seed["high"]
        assert 0 <= seed["debiased_l2"] < 1
    assert out["mean"] == pytest.approx(np.mean([s["ece"] for s in out["per_seed"]]))
    lo, hi = out["test_set_interval"]
    assert lo < out["mean"] < hi and out["interval"]["n_seeds"] == 3 and out["interval"]["low"] is not None
    again = inf.calibration_over_seeds(labels, logits, n_bins=15)
    assert again == out  # fixed bootstrap seed: reproducible
    assert inf.calibration_over_seeds(labels, logits[:1], n_bins=10)["interval"] is None


def test_debiased_calibration_error_is_near_zero_for_a_calibrated_model():
    rng = np.random.default_rng(13)
    conf = rng.uniform(0.5, 1.0, 20000)
    labels = (rng.random(20000) >= conf).astype(int)  # right with probability = confidence
    logits = np.log(np.stack([conf, 1 - conf], 1))
    assert inf.debiased_l2_calibration_error(labels, logits, n_bins=15) < 0.01
    bins = np.clip(np.searchsorted(np.linspace(0, 1, 16)[1:-1], conf), 0, 14)
    correct = labels == 0
    plug_in = math.sqrt(sum((correct[bins == b].mean() - conf[bins == b].mean()) ** 2 * (bins == b).mean()
                            for b in np.unique(bins)))
    assert inf.debiased_l2_calibration_error(labels, logits, n_bins=15) < plug_in


# ----------------------------------------------------------------------------- references, failures, undefined


def test_reference_difference_has_an_interval_only_like_for_like():
    r = inf.reference_difference(0.81, 0.79, like_for_like=False, interval=(0.80, 0.82))
    assert r["difference"] == pytest.approx(0.02) and r["low"] is None and r["reason"] == "not_like_for_like"
    r = inf.reference_difference(0.81, 0.79, like_for_like=True, interval=(0.80, 0.82))
    assert (r["low"], r["high"]) == pytest.approx((0.01, 0.03))
    assert inf.reference_difference(0.81, 0.79, like_for_like=True)["reason"] == "no_interval"


def test_degenerate_rules():
    healthy = np.arange(100) % 10
    assert inf.degenerate(healthy, [2.3, 1.9, 1.5], num_classes=10) == []
    collapsed = np.zeros(100, dtype=int)
    collapsed[:3] = 4
    hits = inf.degenerate(collapsed, [2.3, float("nan"), float("inf")], num_classes=10)
    assert hits == [{"rule": "one_class_share", "class": 0, "share": 0.97, "threshold": 0.95},
                    {"rule": "loss_not_finite", "epochs": [1, 2]}]
    assert inf.degenerate(collapsed, [1.0], num_classes=10, share=0.98) == []
    logits = np.eye(10)[collapsed]
    assert inf.degenerate(logits, [1.0], num_classes=10)[0]["class"] == 0


def test_undefined_precision_is_none_not_zero():
    labels = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 1, 0, 1, 1])  # class 2 is never predicted
    out = inf.per_class_scores(labels, pred, num_classes=3)
    assert out["precision"][2] is None and out["recall"][2] == 0.0 and out["f1"][2] == 0.0
    assert out["macro"]["precision"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert out["macro"]["precision_skipped_classes"] == [2] and out["macro"]["recall_skipped_classes"] == []
    assert out["support"] == [2, 2, 2]


def test_references_cover_every_method_family():
    text = " ".join(inf.REFERENCES.values())
    for name in ("Dietterich", "Bouthillier", "Fagerland", "Tango", "Newcombe", "Holm", "Kumar", "Roelofs"):
        assert name in text


def test_every_result_is_strict_json():
    """Results go into summary.json as they are: plain numbers, None for 'no value', no NaN or infinity."""
    rng = np.random.default_rng(14)
    images = draw_images(rng, TEST_SET_MATTERS, 1, 300)
    c = {k: simulate(rng, TEST_SET_MATTERS, images, 3, shift=s)[0] for k, s in (("x", 0.0), ("y", 0.5))}
    labels = np.zeros(300, dtype=np.int64)
    same = np.zeros((3, 300), dtype=np.int64)  # no variance anywhere: df is infinite, recorded as None
    results = [
        inf.compare_configurations(labels, as_predictions(c["x"]), as_predictions(c["y"]), seeds_a=[0, 1, 2],
                                   seeds_b=[3, 4, 5]),
        inf.compare_configurations(labels, same, same, seeds_a=[0, 1, 2], seeds_b=[0, 1, 2]),
        inf.mean_interval(c["x"].mean(1), c["x"]),
        inf.mcnemar_midp(c["x"][0] == 1, c["y"][0] == 1),
        inf.rank_configurations(labels, {k: as_predictions(v) for k, v in c.items()}, seeds={"x": [0, 1, 2],
                                                                                              "y": [3, 4, 5]}),
        inf.minimal_detectable_difference(300, 3, 3, between_seed_sd=0.01, accuracy=0.8),
        inf.per_class_scores(np.array([0, 1]), np.array([0, 0]), num_classes=2),
    ]
    assert results[1]["df"] is None and results[1]["p_value"] == 1.0
    for r in results:
        json.dumps(r, allow_nan=False)


def test_macro_test_set_se_gives_precision_recall_and_f1_from_one_resampling():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 400)
    pred = np.where(rng.random((3, 400)) < 0.7, labels, (labels + 1) % 3)
    se = inf.macro_test_set_se(labels, pred, num_classes=3, n_resamples=500)
    assert set(se) == {"precision", "recall", "f1"} and all(0 < v < 0.1 for v in se.values())
    assert se["f1"] == inf.macro_f1_test_set_se(labels, pred, num_classes=3, n_resamples=500)
    assert inf.macro_test_set_se(labels, pred[:1], num_classes=3) is None
