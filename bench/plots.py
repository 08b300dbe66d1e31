"""Every figure of the project, drawn with matplotlib/seaborn and returned as PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

DPI = 200  # print resolution for A4 at the widths used in the report
# Fixed metadata keeps the PNG bytes, and so the report, identical across runs.
_PNG_META = {"Software": None}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata=_PNG_META)
    plt.close(fig)
    return buf.getvalue()


def sample_grid_png(images: np.ndarray, labels: np.ndarray, classes: list[str], *, per_class: int = 10) -> bytes:
    """A grid with one row per class: the first `per_class` images of that class."""
    fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class * 0.6 + 1.2, len(classes) * 0.6))
    axes = np.atleast_2d(axes)
    for c, name in enumerate(classes):
        idx = np.flatnonzero(labels == c)[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if j < len(idx):
                ax.imshow(images[idx[j]], interpolation="nearest")
        axes[c, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return _png(fig)


sns.set_theme(context="paper", style="whitegrid", font_scale=0.9)
PALETTE = {"train": "#1f77b4", "val": "#d62728"}


def learning_curves_png(histories: list[list[dict]], *, phase_starts: list[int], title: str) -> bytes:
    """Loss and accuracy per epoch, train and validation; mean and min-max band over seeds.

    `phase_starts` are the 1-based epochs where a new learning-rate phase begins.
    """
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.6))
    for ax, metric, label in ((axes[0], "loss", "cross-entropy loss"), (axes[1], "acc", "accuracy")):
        for split in ("train", "val"):
            curves = [np.array([row[f"{split}_{metric}"] for row in h], dtype=float) for h in histories if h]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            arr = np.stack([c[:n] for c in curves])
            epochs = np.arange(1, n + 1)
            name = "train" if split == "train" else "validation"
            ax.plot(epochs, arr.mean(0), marker="o", markersize=2.5, lw=1.2, color=PALETTE[split],
                    label=name + (f" (mean of {len(arr)} seeds)" if len(arr) > 1 else ""))
            if len(arr) > 1:
                ax.fill_between(epochs, arr.min(0), arr.max(0), color=PALETTE[split], alpha=0.2, lw=0)
        for start in phase_starts:
            ax.axvline(start - 0.5, color="0.5", ls="--", lw=0.8)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[1].legend(loc="lower right", fontsize=7, frameon=True)
    fig.suptitle(title + ("  (dashed: learning-rate phase change)" if phase_starts else ""), fontsize=9)
    fig.tight_layout()
    return _png(fig)


def confusion_png(cm: np.ndarray, classes: list[str], *, title: str) -> bytes:
    """Counts and row-normalised (recall per true class) heatmaps side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(7.4, 3.4))
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", cbar=False, ax=axes[0], annot_kws={"size": 5.5},
                xticklabels=classes, yticklabels=classes, square=True)
    # Whole percentages keep ten digits per row legible at print size.
    sns.heatmap(100 * norm, annot=True, fmt=".0f", cmap="Blues", vmin=0, vmax=100, cbar=False, ax=axes[1],
                annot_kws={"size": 5.5}, xticklabels=classes, yticklabels=classes, square=True)
    for ax, sub in zip(axes, ("counts", "% of each true class")):
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(sub, fontsize=8)
        ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _png(fig)


def per_class_f1_png(table: dict[str, dict[str, float]], classes: list[str]) -> bytes:
    """Grouped bars: F1 per class (x) for each model (hue). `table[model][class] = f1`."""
    import pandas as pd

    frame = pd.DataFrame([{"model": m, "class": c, "F1": f[c]} for m, f in table.items() for c in classes])
    fig, ax = plt.subplots(figsize=(7.2, 2.8))
    sns.barplot(frame, x="class", y="F1", hue="model", ax=ax, palette="colorblind")
    ax.set_ylim(0, 1)
    ax.set_xlabel("")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, ncol=len(table), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return _png(fig)


def reliability_png(curves: dict[str, dict]) -> bytes:
    """Reliability diagram: accuracy against mean confidence per bin, one line per model."""
    fig, ax = plt.subplots(figsize=(3.6, 3.4))
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8, label="perfect calibration")
    colors = sns.color_palette("colorblind", len(curves))
    for color, (name, c) in zip(colors, curves.items()):
        ax.plot(c["confidence"], c["accuracy"], marker="o", markersize=2.5, lw=1.1, color=color,
                label=f"{name} (ECE {c['ece']:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (max softmax)")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return _png(fig)


def mistakes_png(images: np.ndarray, captions: list[str]) -> bytes:
    """A strip of test images with 'true -> predicted (confidence)' captions."""
    n = len(images)
    cols = min(n, 8)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 1.1), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, cap in zip(axes.ravel(), images, captions):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(cap, fontsize=5)
    fig.tight_layout()
    return _png(fig)
