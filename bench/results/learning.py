"""Did a model learn at all, and which way is it miscalibrated: numbers only (bench.render words them).

A model that did not learn is still a result (the run trained it), but its accuracy says nothing about its
architecture, so the report names it before any comparison uses it (issue 22). Per complete seed, three facts:

- near-chance training: the final epoch's training accuracy has closed less than NEAR_CHANCE_FLOOR of the gap
  between guessing (1 / classes) and perfect, i.e. its chance-adjusted accuracy (acc - 1/K) / (1 - 1/K) is below
  0.1 (the scale of scikit-learn's balanced_accuracy_score(adjusted=True), or Cohen's kappa against a uniform
  guesser). On CIFAR-10 that is a training accuracy below 19 %. Why a tenth: a network that learned anything
  class-specific clears it after an epoch or two (the smoke MLP ends at 24-26 %), while one that has not yet left
  its initial plateau (the smoke CNN, 2 epochs on 2,000 images: 11-19 %) does not. The training accuracy is the
  mean over the epoch's augmented batches in training mode (dropout on), so it understates what the network
  reaches at the epoch's end: the rule errs towards calling a model trained.
- classes never predicted on the test set (among the classes the test labels hold): a network that never
  predicts a class has learned nothing that tells that class apart.
- degenerate predictions: bench.results.inference.degenerate's rules (one class takes >= 95 % of the test
  predictions, or a non-finite training loss), passed in, not recomputed.

A seed did not learn when any of them holds; a model did not learn when none of its complete seeds learned.

Calibration direction: over-confident when the mean top-class confidence exceeds the accuracy, under-confident
when it falls short; the direction is stated only when the 95 % t interval of the gap over test images (each
image's gap averaged over the seeds) excludes 0; that interval holds the seeds fixed, so it speaks for these
trained networks, not for every training run. Few predictions per bin: fewer than FEW_PER_BIN, where a bin's
accuracy has a 95 % interval of up to about +-10 points (1.96 x 0.5 / sqrt(100) = 0.098 at 50 %, narrower away
from 50 %).
"""

from __future__ import annotations

import numpy as np

NEAR_CHANCE_FLOOR = 0.1
FEW_PER_BIN = 100
CONFIDENCE = 0.95


def chance_adjusted(accuracy: float, num_classes: int) -> float:
    """(accuracy - chance) / (1 - chance): 0 for guessing, 1 for perfect."""
    chance = 1.0 / num_classes
    return (accuracy - chance) / (1.0 - chance)


def near_chance_threshold(num_classes: int) -> float:
    """The training accuracy below which a seed counts as near chance (0.19 for 10 classes)."""
    chance = 1.0 / num_classes
    return chance + NEAR_CHANCE_FLOOR * (1.0 - chance)


def final_train_accuracy(history: list[dict]) -> float | None:
    """The last recorded epoch's training accuracy; None where the history does not record one."""
    values = [h.get("train_acc") for h in history or [] if h.get("train_acc") is not None]
    return float(values[-1]) if values else None


def seed_learning(seed: int, train_accuracy: float | None, labels: np.ndarray, predicted: np.ndarray,
                  classes: list[str], degenerate: list[dict]) -> dict:
    """One complete seed's facts; `degenerate`: inference.degenerate's hits for this seed."""
    k = len(classes)
    adjusted = None if train_accuracy is None else chance_adjusted(train_accuracy, k)
    # Rounded so that a recorded accuracy on the threshold (0.19 of 10 classes) reads as on it, not below.
    near = None if adjusted is None else bool(round(adjusted, 12) < NEAR_CHANCE_FLOOR)
    present = np.bincount(np.asarray(labels, np.int64), minlength=k) > 0
    predicted_counts = np.bincount(np.asarray(predicted, np.int64), minlength=k)
    never = [classes[i] for i in np.flatnonzero(present & (predicted_counts == 0))]
    reasons = [r for r, hit in (("near_chance_training", near), ("classes_never_predicted", never),
                                ("degenerate", degenerate)) if hit]
    return {"seed": seed, "train_accuracy": train_accuracy, "chance_adjusted": adjusted, "near_chance": near,
            "never_predicted": never, "classes_in_test": int(present.sum()), "degenerate": bool(degenerate),
            "learned": not reasons, "reasons": reasons}


def model_learning(seeds: list[dict], num_classes: int) -> dict:
    """A model's verdict from its complete seeds' facts (seed_learning)."""
    not_learned = [s["seed"] for s in seeds if not s["learned"]]
    return {"chance": 1.0 / num_classes, "floor": NEAR_CHANCE_FLOOR, "threshold": near_chance_threshold(num_classes),
            "seeds": seeds, "seeds_not_learned": not_learned,
            "did_not_learn": bool(seeds) and len(not_learned) == len(seeds)}


def confidence_gap(labels: np.ndarray, logits: np.ndarray) -> dict:
    """Mean top-class confidence minus accuracy, with a t interval over test images.

    `logits`: (seeds, images, classes) of the healthy seeds on one test set. Each image's gap (confidence minus
    correctness) is averaged over the seeds first, so the interval's unit is the test image.
    """
    # scipy here, not at the top: importing this module (the report's renderers do) stays cheap.
    from scipy import stats as sps
    from scipy.special import softmax

    probs = softmax(np.asarray(logits, dtype=np.float64), axis=-1)
    confidence = probs.max(-1)
    correct = (probs.argmax(-1) == np.asarray(labels)[None, :]).astype(np.float64)
    per_image = (confidence - correct).mean(0)
    gap = float(per_image.mean())
    if len(per_image) > 1 and per_image.std() > 0:
        ci = sps.ttest_1samp(per_image, 0.0).confidence_interval(CONFIDENCE)
        low, high = float(ci.low), float(ci.high)
    else:
        low = high = gap
    direction = "over" if low > 0 else "under" if high < 0 else "neither"
    return {"mean_confidence": float(confidence.mean()), "accuracy": float(correct.mean()), "gap": gap,
            "low": low, "high": high, "confidence": CONFIDENCE, "direction": direction, "unit": "image"}


def sparse_bins(counts: list[int]) -> dict:
    """The occupied reliability bins holding fewer than FEW_PER_BIN predictions, and their share of all.

    Their share bounds how far they can move the ECE (each bin's gap is at most 1, weighted by its share)."""
    counts = [int(c) for c in counts if c]
    few = [c for c in counts if c < FEW_PER_BIN]
    total = sum(counts)
    return {"few_per_bin": FEW_PER_BIN, "bins": len(counts), "sparse": len(few),
            "share": (sum(few) / total) if total else 0.0}
