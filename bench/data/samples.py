"""The sample-grid picture of `bench data` and of every run directory (samples.png).

It lives with the data rather than with the report's figures because the runner, a lower
floor than bench.render, writes it. The style is set here, in a context, to the values the
report's figures use (seaborn's paper/whitegrid theme, DejaVu Sans), so that the PNG's bytes
do not depend on whether bench.render was imported first.
"""

from __future__ import annotations

import io

import numpy as np

DPI = 200  # PNG resolution; report_templates/style.css prints PNGs at this resolution (image-resolution)
CELL_INCHES = 0.42  # one 32x32 image on paper
# Fixed metadata keeps the PNG's bytes, and so the report's, identical across runs.
PNG_META = {"Software": None}


def _style() -> dict:
    import seaborn as sns

    # The values of bench.render.plots.STYLE that reach this picture: the class names' font, size and gap.
    return {**sns.axes_style("whitegrid"), **sns.plotting_context("paper"),
            "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"], "font.size": 8.0,
            "axes.labelpad": 2.5}


def sample_grid_png(images: np.ndarray, labels: np.ndarray, classes: list[str], *, per_class: int = 10) -> bytes:
    """A grid with one row per class: the first `per_class` images of that class (PNG, printed at DPI)."""
    # matplotlib here, not at the top: the report imports this module for grid_without_labels (PIL only).
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    with plt.rc_context(_style()):
        cell = CELL_INCHES
        # squeeze=False: always a rows x columns array, also for one class or one image per class.
        fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class * cell + 0.8, len(classes) * cell),
                                 squeeze=False)
        for c, name in enumerate(classes):
            idx = np.flatnonzero(labels == c)[:per_class]
            for j in range(per_class):
                ax = axes[c, j]
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                for s in ax.spines.values():
                    s.set_visible(False)
                if j < len(idx):
                    ax.imshow(images[idx[j]], interpolation="nearest")
            axes[c, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7.5)
        fig.subplots_adjust(left=0.8 / (per_class * cell + 0.8), right=1, top=1, bottom=0, wspace=0.06,
                            hspace=0.06)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.02, metadata=PNG_META)
        plt.close(fig)
    return buf.getvalue()


def grid_without_labels(png: bytes) -> bytes | None:
    """samples.png with its class-name column cut off (PNG, same resolution), or None where the picture is not
    such a grid.

    samples.png is a training artifact (embedded as evidence, digests recorded), so the report never redraws or
    rewrites it; its baked-in names are English and on the left. The report prints this crop beside names it sets
    itself, in its own language and on the reading side (report_templates/_setup.html.j2), rows spread evenly as
    sample_grid_png spaces them. Re-plotting from the pixels would need the grid's geometry, which bbox_inches=
    "tight" does not keep; the cut needs only this: photographs fill nearly every pixel of their columns, text
    never half of a column, so the first column that is over half non-white lies in the first column of images.
    """
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(png)).convert("RGB")
    except (OSError, ValueError):
        return None
    pixels = np.asarray(image)
    inked = (pixels < 245).any(axis=2).mean(axis=0)  # per column: the share of pixels that are not white
    columns = np.flatnonzero(inked > 0.5)
    if not len(columns) or columns[0] == 0:
        return None
    # A first image with a pale background may start left of that column: walk back to the white gap that the
    # label's padding leaves between the names and the images.
    start = int(columns[0])
    while start > 0 and inked[start - 1] > 0:
        start -= 1
    if start == 0:
        return None
    buf = io.BytesIO()
    dpi = image.info.get("dpi", (DPI, DPI))
    image.crop((start, 0, image.width, image.height)).save(buf, format="PNG", dpi=dpi)
    return buf.getvalue()
