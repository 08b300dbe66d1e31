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
