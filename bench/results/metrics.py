"""Test-set metrics from saved predictions, all computed by scikit-learn / scipy."""

from __future__ import annotations

import numpy as np

# scipy and scikit-learn are imported by the functions that use them: a report whose analysis comes from the
# cache (bench.render.cache) imports neither.


def cross_entropy(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean cross-entropy over examples (the study averaged batch means instead)."""
    from scipy.special import log_softmax

    logp = log_softmax(logits.astype(np.float64), axis=1)
    return float(-logp[np.arange(len(labels)), labels].mean())


def summary_metrics(labels: np.ndarray, logits: np.ndarray, *, num_classes: int = 10) -> dict:
    """Headline test metrics: loss, accuracy, macro and weighted P/R/F1.

    A class's precision (never predicted) or recall (never present) is undefined, not 0: the averages skip it
    (scikit-learn's zero_division=nan), as bench.results.stats.macro_scores does for the bootstrap.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    pred = logits.argmax(axis=1)
    out = {"loss": cross_entropy(labels, logits), "accuracy": float(accuracy_score(labels, pred)),
           "n": int(len(labels))}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            labels, pred, labels=list(range(num_classes)), average=average, zero_division=np.nan)
        out[f"{average}_precision"], out[f"{average}_recall"], out[f"{average}_f1"] = float(p), float(r), float(f)
    return out


def per_class_table(labels: np.ndarray, pred: np.ndarray, classes: list[str]) -> dict:
    """scikit-learn's classification report as a dict: per class, macro avg, weighted avg; an undefined score
    is NaN (bench.results.study stores it as None) and the averages skip it."""
    from sklearn.metrics import classification_report

    return classification_report(labels, pred, labels=list(range(len(classes))), target_names=classes,
                                 output_dict=True, zero_division=np.nan)


def confusion(labels: np.ndarray, pred: np.ndarray, num_classes: int = 10, *, normalize: str | None = None):
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(labels, pred, labels=list(range(num_classes)), normalize=normalize)
