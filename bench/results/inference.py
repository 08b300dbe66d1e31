"""Inference about configurations, not checkpoints (issue 21): numbers only, on plain numpy arrays.

Inputs are labels (N,), per-seed predictions (S, N) or logits (S, N, K), all on ONE shared test set; nothing here
reads a run directory. Every function returns plain data (floats, ints, None, lists, dicts) keyed by identifiers;
the words are the render layer's. Sign convention everywhere: difference = FIRST minus SECOND (`a` minus `b`).

The unit of a claim about a configuration is the training run (seed). A seed's accuracy on the shared test set
varies for two reasons: the seed (between-seed variance, seen across runs) and the draw of the test set (shared by
all runs, so invisible across them and not reduced by more seeds). Both enter every interval below:

    Var(mean over seeds) = s^2 / S  +  Var_test,        Var_test = (T - mean_i w_i / S) / N, floored at 0,

where s^2 is the sample variance of the seed-level values, T the variance over images of the per-image score
averaged over seeds, and w_i the variance over seeds of image i's score. T alone would count each image's
seed-to-seed noise twice (it is already in s^2); subtracting mean_i w_i / S removes it (method of moments, exact
in expectation). Degrees of freedom: Welch-Satterthwaite over the components (s^2 with S - 1, Var_test with
N - 1). This is the variance decomposition of Bouthillier et al. (2021) made into a Welch-type t test; a
random-effects model would estimate the same components but needs iteration and gains nothing at 2-10 seeds.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

# scipy and scikit-learn are imported by the functions that use them: a report whose analysis comes from the
# cache (bench.render.cache) imports neither.

from bench.errors import BenchError
from bench.results.stats import bootstrap_indices, macro_from_confusion, resampled_confusions, resampled_ece

ALPHA = 0.05
# Under 3 seeds a side no interval over seeds and no test: 2 seeds give the between-seed variance 1 degree of freedom
# (a review simulated the 2-seed test at 5.6-6.8 % false positives for alpha 5 %); one threshold for both.
MIN_SEEDS_INTERVAL = MIN_SEEDS_TEST = 3
CAUTION_SEEDS = 5  # below this, the interval's width itself is unreliable: flagged
ECE_BINS = 15
ECE_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
# resamples x images x seeds; above it, fewer resamples (whole thousands, stated in the result). 5e7 keeps a
# 10,000-image model under ~3 s on two cores and gives smoke runs (1,000 images, up to 5 seeds) the full 10,000.
MAX_BOOTSTRAP_DRAWS = 5 * 10**7
DEGENERATE_SHARE = 0.95
PAIRED_CHOICES = ("auto", True, False)

REFERENCES = {
    "single_checkpoint_tests": "Dietterich, T. G. (1998). Approximate statistical tests for comparing supervised "
                               "classification learning algorithms. Neural Computation 10(7), 1895-1923.",
    "variance_decomposition": "Bouthillier, X., et al. (2021). Accounting for variance in machine learning "
                              "benchmarks. Proceedings of MLSys 3.",
    "mcnemar_midp": "Fagerland, M. W., Lydersen, S., & Laake, P. (2013). The McNemar test for binary matched-pairs "
                    "data: mid-p and asymptotic are better than exact conditional. BMC Medical Research "
                    "Methodology 13, 91.",
    "paired_score_interval": "Tango, T. (1998). Equivalence test and confidence interval for the difference in "
                             "proportions for the paired-sample design. Statistics in Medicine 17, 891-908; "
                             "Newcombe, R. G. (1998). Improved confidence intervals for the difference between "
                             "binomial proportions based on paired data. Statistics in Medicine 17, 2635-2650.",
    "holm": "Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scandinavian Journal of "
            "Statistics 6(2), 65-70.",
    "calibration": "Kumar, A., Liang, P., & Ma, T. (2019). Verified uncertainty calibration. NeurIPS 32; "
                   "Roelofs, R., et al. (2022). Mitigating bias in calibration error estimation. AISTATS.",
}


# ----------------------------------------------------------------------------- inputs


def _check_alpha(alpha: float) -> float:
    if not 0.0 < float(alpha) < 1.0:
        raise BenchError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    return float(alpha)


def _predictions(labels: np.ndarray, pred: np.ndarray, name: str) -> np.ndarray:
    """(S, N) integer predictions from (S, N) predictions or (S, N, K) logits, checked against the labels."""
    pred = np.asarray(pred)
    if pred.ndim == 3:
        pred = pred.argmax(-1)
    if pred.ndim != 2 or pred.shape[1] != len(labels):
        raise BenchError(f"{name} must be (seeds, {len(labels)}) predictions or (seeds, {len(labels)}, classes) "
                         f"logits, got shape {tuple(np.shape(pred))}")
    return pred


def _correct(labels, pred, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise BenchError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    return (_predictions(labels, pred, name) == labels).astype(np.float64)


def _seed_list(seeds, rows: int, name: str) -> list[int]:
    seeds = [int(s) for s in seeds]
    if len(seeds) != rows or len(set(seeds)) != rows:
        raise BenchError(f"{name} must name {rows} distinct seeds (one per row), got {seeds}")
    return seeds


# ----------------------------------------------------------------------------- variance components


def image_sampling_variance(per_image: np.ndarray) -> float:
    """Test-set sampling variance of the mean over seeds of an additive per-image score (S >= 2, N): the
    Var_test of the module docstring. Not "test_..." by name, so that pytest never collects it."""
    s, n = per_image.shape
    t = float(per_image.mean(0).var(ddof=1)) if n > 1 else 0.0
    within = float(per_image.var(0, ddof=1).mean())
    return max(0.0, t - within / s) / n


def _satterthwaite(terms: list[tuple[float, float]]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of variance estimates given as (variance, df) pairs."""
    total = sum(v for v, _ in terms)
    denom = sum(v * v / df for v, df in terms if v > 0 and df > 0)
    return math.inf if denom == 0 else total * total / denom


def _t_result(estimate: float, variance: float, df: float, alpha: float) -> dict:
    """Interval and two-sided p-value of one t statistic; both come from the same quantile, so never disagree.
    Plain floats for JSON; an infinite df (every variance known) is recorded as None: the normal distribution."""
    from scipy import stats

    estimate, se, df = float(estimate), math.sqrt(float(variance)), float(df)
    out = {"df": None if math.isinf(df) else df, "se": se}
    if se == 0.0:
        return {**out, "low": estimate, "high": estimate, "p_value": 1.0 if estimate == 0 else 0.0}
    half = float(stats.t.ppf(1 - alpha / 2, df)) * se
    p = float(2 * stats.t.sf(abs(estimate) / se, df))
    return {**out, "low": estimate - half, "high": estimate + half, "p_value": p}


# ----------------------------------------------------------------------------- configurations


def compare_configurations(labels, pred_a, pred_b, *, seeds_a, seeds_b, alpha: float = ALPHA,
                           paired="auto") -> dict:
    """Configuration-level comparison of accuracy: difference = mean accuracy of `a` minus that of `b`.

    Method: Welch-type t test over seed-level accuracies whose variance adds the shared test set's sampling
    variance of the difference (module docstring; Bouthillier et al. 2021), Satterthwaite degrees of freedom.
    `paired`: "auto" pairs the rows by seed when both sides ran exactly the same seeds (same seed, same data
    order: their difference is then analysed seed by seed), True insists on it, False never pairs; disjoint
    seeds are never paired. Pairing pays where one seed number links the two runs (one model, two settings:
    `bench compare`); across architectures a seed number links little, and pairing only halves the degrees of
    freedom. `decision` is "a", "b" or "none" and is read off the interval alone (the p-value comes from the same
    t statistic, so p < alpha exactly when the interval excludes 0). Under MIN_SEEDS_TEST seeds a side: no test.
    """
    alpha = _check_alpha(alpha)
    if paired not in PAIRED_CHOICES:
        raise BenchError(f"paired must be one of {PAIRED_CHOICES}, got {paired!r}")
    ca, cb = _correct(labels, pred_a, "pred_a"), _correct(labels, pred_b, "pred_b")
    sa, sb = _seed_list(seeds_a, len(ca), "seeds_a"), _seed_list(seeds_b, len(cb), "seeds_b")
    same = sorted(sa) == sorted(sb)
    if paired is True and not same:
        raise BenchError(f"paired=True needs the same seeds on both sides, got {sorted(sa)} and {sorted(sb)}")
    is_paired = same and paired in ("auto", True)
    acc_a, acc_b = ca.mean(1), cb.mean(1)
    diff = float(acc_a.mean() - acc_b.mean())
    out = {"difference": diff, "mean_a": float(acc_a.mean()), "mean_b": float(acc_b.mean()),
           "n_seeds_a": len(sa), "n_seeds_b": len(sb), "n_test": int(ca.shape[1]), "alpha": alpha,
           "paired": is_paired, "low": None, "high": None, "p_value": None, "df": None, "se": None,
           "between_seed_sd_a": float(acc_a.std(ddof=1)) if len(sa) > 1 else None,
           "between_seed_sd_b": float(acc_b.std(ddof=1)) if len(sb) > 1 else None,
           "test_set_se": None, "decision": "none", "reason": None, "unit": "configuration",
           "method": "paired_t_seeds_plus_test_set" if is_paired else "welch_t_seeds_plus_test_set"}
    if min(len(sa), len(sb)) < MIN_SEEDS_TEST:
        return {**out, "reason": "too_few_seeds"}
    n = ca.shape[1]
    if is_paired:
        d = ca[np.argsort(sa)] - cb[np.argsort(sb)]  # rows aligned by seed
        v_test = image_sampling_variance(d)
        terms = [(float(d.mean(1).var(ddof=1)) / len(d), len(d) - 1), (v_test, n - 1)]
    else:
        # The per-image difference of seed-averaged correctness; each side's seed noise is removed separately.
        t = float((ca.mean(0) - cb.mean(0)).var(ddof=1))
        v_test = max(0.0, t - float(ca.var(0, ddof=1).mean()) / len(ca) - float(cb.var(0, ddof=1).mean()) / len(cb)) / n
        terms = [(float(acc_a.var(ddof=1)) / len(sa), len(sa) - 1), (float(acc_b.var(ddof=1)) / len(sb), len(sb) - 1),
                 (v_test, n - 1)]
    res = _t_result(diff, sum(v for v, _ in terms), _satterthwaite(terms), alpha)
    decision = "a" if res["low"] > 0 else "b" if res["high"] < 0 else "none"
    return {**out, **res, "test_set_se": math.sqrt(v_test), "decision": decision}


def mean_interval(values_per_seed, per_image_scores=None, *, test_set_se: float | None = None,
                  alpha: float = ALPHA) -> dict:
    """Interval of a model's mean over seeds that includes test-set sampling (accuracy, macro F1, ECE, ...).

    The test-set part comes from `per_image_scores` (S, N) for an additive score such as correctness (module
    docstring), or from `test_set_se` for anything else (e.g. `macro_f1_test_set_se`). Student t with
    Satterthwaite degrees of freedom. Fewer than 3 seeds: no interval (`reason` "too_few_seeds"); fewer than 5:
    `caution` True (the interval's own width is poorly determined).
    """
    alpha = _check_alpha(alpha)
    values = np.asarray(values_per_seed, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise BenchError(f"values_per_seed must be a non-empty 1-D sequence, got shape {values.shape}")
    if (per_image_scores is None) == (test_set_se is None):
        raise BenchError("give exactly one of per_image_scores (seeds, images) and test_set_se")
    s = len(values)
    out = {"mean": float(values.mean()), "low": None, "high": None, "n_seeds": s, "alpha": alpha,
           "between_seed_sd": float(values.std(ddof=1)) if s > 1 else None, "test_set_se": None, "df": None,
           "caution": s < CAUTION_SEEDS, "reason": None, "method": "t_seeds_plus_test_set"}
    if per_image_scores is not None:
        scores = np.asarray(per_image_scores, dtype=np.float64)
        if scores.ndim != 2 or scores.shape[0] != s:
            raise BenchError(f"per_image_scores must be ({s}, images), got shape {scores.shape}")
        v_test, df_test = (image_sampling_variance(scores) if s > 1 else None), scores.shape[1] - 1
    else:
        if not float(test_set_se) >= 0:
            raise BenchError(f"test_set_se must be a number >= 0, got {test_set_se}")
        v_test, df_test = float(test_set_se) ** 2, math.inf  # a given SE is taken as known
    out["test_set_se"] = None if v_test is None else math.sqrt(v_test)
    if s < MIN_SEEDS_INTERVAL:
        return {**out, "reason": "too_few_seeds"}
    terms = [(float(values.var(ddof=1)) / s, s - 1), (v_test, df_test)]
    res = _t_result(out["mean"], terms[0][0] + v_test, _satterthwaite(terms), alpha)
    return {**out, "low": res["low"], "high": res["high"], "df": res["df"]}


def macro_test_set_se(labels, pred, *, num_classes: int, n_resamples: int = 2000,
                      seed: int = BOOTSTRAP_SEED) -> dict | None:
    """Test-set SEs of the means over seeds of macro precision, recall and F1, for `mean_interval(...,
    test_set_se=...)`; None with fewer than two seeds.

    Bootstrap over test images, the same resample for every seed; the test-set part is the covariance of two
    seeds' resampled score (what they share is the images), (S * Var(mean) - mean Var) / (S - 1), the
    bootstrap analogue of the formula in the module docstring.
    """
    labels = np.asarray(labels)
    pred = _predictions(labels, pred, "pred")
    s, n = pred.shape
    if s < 2:
        return None
    # Each seed's resampled confusion matrices (counted once: its own intervals use the same resamples when the
    # batch agrees), the same integers as counting the resampled images, so the same scores bit for bit.
    batch = max(1, 2_000_000 // (s * n))
    confusions = np.stack([resampled_confusions(labels, p, num_classes=num_classes, n_resamples=n_resamples,
                                                seed=seed, batch=batch) for p in pred])
    scores = macro_from_confusion(confusions)  # (S, R) each
    return {key: math.sqrt(max(0.0, float((s * v.mean(0).var(ddof=1) - v.var(1, ddof=1).mean()) / (s - 1))))
            for key, v in scores.items()}


def macro_f1_test_set_se(labels, pred, *, num_classes: int, n_resamples: int = 2000,
                         seed: int = BOOTSTRAP_SEED) -> float | None:
    """macro_test_set_se's F1 part."""
    return (macro_test_set_se(labels, pred, num_classes=num_classes, n_resamples=n_resamples, seed=seed)
            or {}).get("f1")


def minimal_detectable_difference(n_test: int, n_seeds_a: int, n_seeds_b: int, *, between_seed_sd: float,
                                  accuracy: float, alpha: float = ALPHA, power: float = 0.8,
                                  test_set_sd: float | None = None) -> dict:
    """Smallest true accuracy difference `compare_configurations` detects with probability `power`.

    Noncentral t power of the unpaired test: se^2 = sd^2 (1/Sa + 1/Sb) + test_set_sd^2 / N. `test_set_sd` is the
    SD over images of the difference in the two configurations' per-image probability of being right; by
    default sqrt(2 acc (1 - acc)), its value when the two configurations' errors are independent and each image
    is always right or always wrong (conservative: real classifiers err on the same hard images).
    """
    alpha = _check_alpha(alpha)
    if not 0.0 < power < 1.0 or not 0.0 <= accuracy <= 1.0 or between_seed_sd < 0 or n_test < 2:
        raise BenchError(f"need 0 < power < 1, 0 <= accuracy <= 1, between_seed_sd >= 0 and n_test >= 2, got "
                         f"power={power}, accuracy={accuracy}, between_seed_sd={between_seed_sd}, n_test={n_test}")
    tsd = math.sqrt(2 * accuracy * (1 - accuracy)) if test_set_sd is None else float(test_set_sd)
    out = {"difference": None, "se": None, "df": None, "alpha": alpha, "power": power, "test_set_sd": tsd,
           "reason": None, "method": "noncentral_t_welch_seeds_plus_test_set"}
    if min(n_seeds_a, n_seeds_b) < MIN_SEEDS_TEST:
        return {**out, "reason": "too_few_seeds"}
    terms = [(between_seed_sd**2 / n_seeds_a, n_seeds_a - 1), (between_seed_sd**2 / n_seeds_b, n_seeds_b - 1),
             (tsd**2 / n_test, n_test - 1)]
    se, df = math.sqrt(sum(v for v, _ in terms)), _satterthwaite(terms)
    if se == 0.0:
        return {**out, "difference": 0.0, "se": 0.0, "df": df}
    from scipy import optimize, stats

    crit = float(stats.t.ppf(1 - alpha / 2, df))

    def shortfall(delta):
        ncp = delta / se
        wrong_side = float(np.nan_to_num(stats.nct.cdf(-crit, df, ncp)))  # nan where it underflows far out
        return float(stats.nct.sf(crit, df, ncp)) + wrong_side - power

    # Power passes any target below 1 - 1e-9 by ncp = crit + 10.
    delta = optimize.brentq(shortfall, 0.0, se * (crit + 10), xtol=1e-10)
    return {**out, "difference": float(delta), "se": se, "df": df}


# ----------------------------------------------------------------------------- one checkpoint against another


def _tango_z(delta: float, n10: int, n01: int, n: int) -> float:
    """Tango's (1998) score statistic for H0: p_a - p_b = delta, with the constrained MLE of P(a wrong, b right)."""
    w = -n10 - n01 + (2 * n - n10 + n01) * delta
    q = (math.sqrt(max(0.0, w * w + 8 * n * n01 * delta * (1 - delta))) - w) / (4 * n)
    var = n * (2 * q + delta * (1 - delta))
    return (n10 - n01 - n * delta) / math.sqrt(max(var, 1e-300))


def mcnemar_midp(correct_a, correct_b, *, alpha: float = ALPHA) -> dict:
    """Per-CHECKPOINT comparison of two trained networks on the same images (test-set sampling only).

    n10: a right and b wrong; n01: a wrong and b right; diff = (n10 - n01) / N = accuracy a - accuracy b.
    p_value: mid-p McNemar (Fagerland et al. 2013), two-sided; exact_p_value: the conservative exact conditional
    test, for the record. low/high: Tango's (1998) score interval, the inversion of the score (asymptotic
    McNemar) test, which is what Fagerland et al. recommend beside the mid-p test. Says nothing about the two
    configurations: another seed gives another pair of networks.
    """
    from scipy import optimize, stats

    alpha = _check_alpha(alpha)
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise BenchError(f"correct_a and correct_b must be 1-D of one length, got {a.shape} and {b.shape}")
    n10, n01, n = int((a & ~b).sum()), int((~a & b).sum()), len(a)
    m, k = n10 + n01, min(n10, n01)
    tail = float(stats.binom.cdf(k, m, 0.5)) if m else 0.5  # P(X <= k), X ~ Bin(m, 1/2)
    exact = min(1.0, 2 * tail)
    midp = 1.0 if m == 0 else min(1.0, 2 * tail - float(stats.binom.pmf(k, m, 0.5)))  # half the point mass
    diff, z = (n10 - n01) / n, float(stats.norm.ppf(1 - alpha / 2))
    eps = 1e-12  # the score's variance vanishes at +-1
    low = -1.0 if diff <= -1 + eps else optimize.brentq(lambda d: _tango_z(d, n10, n01, n) - z, -1 + eps, diff)
    high = 1.0 if diff >= 1 - eps else optimize.brentq(lambda d: _tango_z(d, n10, n01, n) + z, diff, 1 - eps)
    return {"n10": n10, "n01": n01, "n": n, "diff": diff, "p_value": midp, "exact_p_value": exact,
            "low": float(low), "high": float(high), "alpha": alpha, "method": "mcnemar_midp_tango_score",
            "unit": "checkpoint"}


# ----------------------------------------------------------------------------- multiplicity and ranking


def holm(p_values, *, alpha: float = ALPHA) -> dict:
    """Holm's (1979) step-down adjustment. `p_values`: a list or a dict; None entries (no test) stay out of the
    family and come back None / not rejected. Returns {"adjusted", "reject"} in the input's shape."""
    alpha = _check_alpha(alpha)
    keys = list(p_values) if isinstance(p_values, dict) else list(range(len(p_values)))
    raw = [p_values[k] for k in keys]
    tested = [i for i, p in enumerate(raw) if p is not None]
    if any(not 0.0 <= float(raw[i]) <= 1.0 for i in tested):
        raise BenchError(f"p-values must lie in [0, 1], got {raw}")
    adjusted: list[float | None] = [None] * len(raw)
    running, m = 0.0, len(tested)
    for rank, i in enumerate(sorted(tested, key=lambda j: raw[j])):
        running = max(running, min(1.0, (m - rank) * float(raw[i])))  # monotone: never below an earlier step
        adjusted[i] = running
    reject = [p is not None and p <= alpha for p in adjusted]
    if isinstance(p_values, dict):
        return {"adjusted": dict(zip(keys, adjusted)), "reject": dict(zip(keys, reject)), "alpha": alpha}
    return {"adjusted": adjusted, "reject": reject, "alpha": alpha}


def rank_configurations(labels, preds: dict, *, seeds: dict, alpha: float = ALPHA, paired=False) -> dict:
    """Rank configurations by mean accuracy as far as Holm-adjusted configuration-level tests allow.

    Every pair is compared (`compare_configurations`, first = the higher mean), the family of p-values is
    Holm-adjusted, and the sorted list is cut only where every configuration above the cut significantly beats
    every one below it: a configuration ranks above another only if the adjusted tests say so, and the members
    of a group share one rank (1 + the number of configurations above the group). Unpaired by default: the
    configurations ranked are different models, which one seed number does not link (see compare_configurations).
    """
    if set(seeds) != set(preds):
        raise BenchError(f"seeds must name the same configurations as preds: {sorted(preds)}, got {sorted(seeds)}")
    names = sorted(preds, key=lambda m: (-float(_correct(labels, preds[m], m).mean()), m))
    comparisons = {(a, b): compare_configurations(labels, preds[a], preds[b], seeds_a=seeds[a], seeds_b=seeds[b],
                                                  alpha=alpha, paired=paired)
                   for a, b in itertools.combinations(names, 2)}
    adj = holm({pair: c["p_value"] for pair, c in comparisons.items()}, alpha=alpha)
    beats = {pair for pair, c in comparisons.items() if adj["reject"][pair] and c["difference"] > 0}
    ranking, group_start = [], 0
    for j in range(1, len(names) + 1):
        if j == len(names) or all((a, b) in beats for a in names[:j] for b in names[j:]):
            for m in names[group_start:j]:
                ranking.append({"model": m, "rank": group_start + 1, "tied_with": [x for x in names[group_start:j]
                                                                                   if x != m]})
            group_start = j
    table = [{"first": a, "second": b, **c, "adjusted_p_value": adj["adjusted"][(a, b)],
              "significant": (a, b) in beats} for (a, b), c in comparisons.items()]
    return {"ranking": ranking, "comparisons": table, "alpha": alpha, "adjustment": "holm"}


# ----------------------------------------------------------------------------- calibration


def _ece_terms(labels: np.ndarray, logits: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: equal-width confidence bin (as sklearn's calibration_curve), correctness and confidence."""
    from scipy.special import softmax

    probs = softmax(logits.astype(np.float64), axis=-1)
    conf = probs.max(-1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges[1:-1], conf, side="left"), 0, n_bins - 1)
    return bins, (probs.argmax(-1) == labels).astype(np.float64), conf


def debiased_l2_calibration_error(labels, logits, *, n_bins: int = ECE_BINS) -> float:
    """Kumar et al. (2019) debiased estimate of the l2 (root mean square) top-label calibration error, same bins:
    each bin's squared gap minus its accuracy's sampling variance, sum floored at 0, square root."""
    bins, correct, conf = _ece_terms(np.asarray(labels), np.asarray(logits), n_bins)
    n_b = np.bincount(bins, minlength=n_bins).astype(np.float64)
    ok = n_b > 1  # a bin of one image has no variance estimate; its weight is at most 1/N
    acc = np.bincount(bins, weights=correct, minlength=n_bins)[ok] / n_b[ok]
    gap = acc - np.bincount(bins, weights=conf, minlength=n_bins)[ok] / n_b[ok]
    total = np.sum(n_b[ok] / len(bins) * (gap**2 - acc * (1 - acc) / (n_b[ok] - 1)))
    return math.sqrt(max(0.0, float(total)))


def calibration_over_seeds(labels, logits, *, n_bins: int = ECE_BINS, n_resamples: int = ECE_RESAMPLES,
                           seed: int = BOOTSTRAP_SEED, alpha: float = ALPHA) -> dict:
    """Top-label ECE per seed with a percentile-bootstrap interval over test images, and the model's figure.

    ECE = (1/N) sum over equal-width bins of |sum of (correct - confidence)|: the usual weighted gap. The
    resamples are `n_resamples` (10,000) unless resamples x images x seeds would pass MAX_BOOTSTRAP_DRAWS, then
    as many whole thousands as fit (at least 1,000); the number used is in the result. The model's figure is the
    mean over seeds: `interval` includes between-seed variation (mean_interval, 3+ seeds), `test_set_interval`
    only the images (the same resamples for every seed). ECE depends on the bin count: `bins` is stated.
    """
    alpha = _check_alpha(alpha)
    labels, logits = np.asarray(labels), np.asarray(logits)
    if logits.ndim != 3 or logits.shape[1] != len(labels):
        raise BenchError(f"logits must be (seeds, {len(labels)}, classes), got shape {logits.shape}")
    s, n, _ = logits.shape
    resamples = max(1000, min(n_resamples, MAX_BOOTSTRAP_DRAWS // (n * s) // 1000 * 1000))
    bins, correct, conf = _ece_terms(labels[None, :], logits, n_bins)  # (S, N) each
    gap = correct - conf
    offsets = (np.arange(s) * n_bins)[:, None]
    ece = np.abs(np.bincount((offsets + bins).ravel(), weights=gap.ravel(), minlength=s * n_bins)
                 .reshape(s, n_bins)).sum(1) / n
    boot = resampled_ece(bins, gap, bootstrap_indices(n, resamples, seed, max(1, 2_000_000 // n)), n_bins)  # (S, R)
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    lows, highs = np.percentile(boot, q, axis=1)
    per_seed = [{"ece": float(e), "low": float(lo), "high": float(hi),
                 "debiased_l2": debiased_l2_calibration_error(labels, logits[i], n_bins=n_bins)}
                for i, (e, lo, hi) in enumerate(zip(ece, lows, highs))]
    shared = (s * boot.mean(0).var(ddof=1) - boot.var(1, ddof=1).mean()) / (s - 1) if s > 1 else None
    t_low, t_high = np.percentile(boot.mean(0), q)
    interval = (mean_interval(ece, test_set_se=math.sqrt(max(0.0, float(shared))), alpha=alpha)
                if shared is not None else None)
    return {"per_seed": per_seed, "mean": float(ece.mean()), "test_set_interval": [float(t_low), float(t_high)],
            "interval": interval, "bins": n_bins, "binning": "equal_width", "resamples": int(resamples),
            "bootstrap_seed": seed, "alpha": alpha, "method": "percentile_bootstrap_over_images"}


# ----------------------------------------------------------------------------- reference numbers, failures


def reference_difference(mean: float, reference: float, *, like_for_like: bool,
                         interval: tuple[float, float] | None = None) -> dict:
    """This run's mean minus a published number. A published number from another protocol is no estimate of
    the same quantity, so its difference gets no interval; only a like-for-like reference does, as this run's
    interval shifted by it (the published number's own uncertainty, seldom published, is left out: stated)."""
    out = {"difference": float(mean) - float(reference), "low": None, "high": None, "like_for_like": like_for_like,
           "reason": None, "method": None}
    if not like_for_like:
        return {**out, "reason": "not_like_for_like"}
    if interval is None or interval[0] is None:
        return {**out, "reason": "no_interval"}
    return {**out, "low": float(interval[0]) - float(reference), "high": float(interval[1]) - float(reference),
            "method": "run_interval_minus_reference_taken_as_exact"}


def degenerate(pred, history_losses, *, num_classes: int, share: float = DEGENERATE_SHARE) -> list[dict]:
    """Rules a seed's run breaks: {"rule": "one_class_share", "class", "share", "threshold"} when one class takes
    `share` or more of the predictions; {"rule": "loss_not_finite", "epochs": [...]} for training losses that are
    NaN or infinite (0-based epochs). Empty when healthy."""
    pred = np.asarray(pred)
    if pred.ndim == 2:
        pred = pred.argmax(-1)
    if pred.ndim != 1 or len(pred) == 0:
        raise BenchError(f"pred must be (N,) predictions or (N, classes) logits, got shape {pred.shape}")
    counts = np.bincount(pred.astype(np.int64), minlength=num_classes)
    hits = []
    top = int(counts.argmax())
    if counts[top] / len(pred) >= share:
        hits.append({"rule": "one_class_share", "class": top, "share": float(counts[top] / len(pred)),
                     "threshold": share})
    losses = np.asarray(list(history_losses), dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(losses)).tolist()
    if bad:
        hits.append({"rule": "loss_not_finite", "epochs": bad})
    return hits


def per_class_scores(labels, pred, *, num_classes: int) -> dict:
    """Per-class precision, recall, F1 and support, with None where a score is undefined (precision of a class
    never predicted, recall of a class absent from the labels), never 0. Macro averages are over the defined
    classes only and say which classes they skipped."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, support = precision_recall_fscore_support(np.asarray(labels), np.asarray(pred),
                                                       labels=list(range(num_classes)), average=None,
                                                       zero_division=np.nan)
    out = {"support": support.astype(int).tolist(), "macro": {}}
    for key, arr in (("precision", p), ("recall", r), ("f1", f)):
        defined = ~np.isnan(arr)
        out[key] = [float(v) if ok else None for v, ok in zip(arr, defined)]
        out["macro"][key] = float(arr[defined].mean()) if defined.any() else None
        out["macro"][f"{key}_skipped_classes"] = np.flatnonzero(~defined).tolist()
    return out
