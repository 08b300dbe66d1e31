"""Every figure of the project, drawn with matplotlib/seaborn.

Charts are drawn at their printed size: a figure's size in inches is its size on the page (the report
never scales a chart), so the 7 pt set here is 7 pt on paper. No chart is wider than the report's text
block (`TEXT_WIDTH_IN`) and no text in one is smaller than `MIN_FONT_PT`. Photographs (the gallery of
mistakes) are PNG; the sample grid is bench.data.samples'.

Each chart has a `*_figure` function (the figure, what tests inspect) and two byte forms (`_forms`): `*_png`
at `DPI`, what the report prints, and `*_svg`, outlines with each text beside them as a comment (what tests
read). PNG because WeasyPrint draws an SVG into the PDF path by path, glyph by glyph: on a 4-model x 5-seed
smoke report PNG at 200 dpi halved the PDF drawing (5.6 to 2.8 s CPU), for 0.7 MB more and the same
legibility. Bytes depend only on the data (fixed ids, no date), so the same artifacts give the same report.
The report asks bench.render.charts for them, which imports this module (matplotlib, seaborn and, with it,
scipy and pandas: ~2 s) only when its cache lacks a chart.

Right-to-left languages, one convention for every figure of several panels (learning curves,
confusion matrices, the gallery of mistakes): panels follow the page's reading order, the first
on the right, and row labels (class names) stand on the right, where the reader starts; inside
a panel the axes keep their orientation (values grow rightward and upward, numbers read left to
right), as Persian ML texts draw them; stacked panels keep their order; legends run right to
left. Accuracy, confidence and shares are in % on the axes, as in the text.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from bench.render.i18n import _, activated, current, font_files, ngettext  # noqa: E402
from bench.render.text import percent  # noqa: E402

DPI = 200  # PNG resolution; report_templates/style.css prints PNGs at this resolution (image-resolution)
TEXT_WIDTH_IN = 6.95  # the report's text block is 178 mm (7.01 in); keep a hair of room
MIN_FONT_PT = 7.0
_SVG_META = {"Date": None, "Creator": None}

# Font sizes in points at printed size.
STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8.0,
    "axes.titlesize": 8.0,
    "axes.labelsize": 8.0,
    "xtick.labelsize": 7.0,
    "ytick.labelsize": 7.0,
    "legend.fontsize": 7.0,
    "legend.title_fontsize": 7.0,
    "figure.titlesize": 8.5,
    "axes.linewidth": 0.6,
    "grid.linewidth": 0.4,
    "lines.linewidth": 1.1,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "xtick.major.pad": 2.0,
    "ytick.major.pad": 2.0,
    "axes.labelpad": 2.5,
    "legend.frameon": False,
    "svg.fonttype": "path",  # outlines: no dependence on the reader's fonts
    "svg.hashsalt": "bench",  # deterministic clip-path and glyph ids
}
sns.set_theme(context="paper", style="whitegrid", rc=STYLE)
PALETTE = {"train": "#1f77b4", "val": "#d62728"}
# Charts in another language: its words from the catalogue (bench.render.i18n), its digits on the ticks
# and in the cells, and a font that has its script (report_templates/fonts: Vazirmatn, OFL) before
# DejaVu Sans. matplotlib shapes and orders right-to-left text itself (libraqm), so labels are
# passed in logical order, as written.
_FONTS_ADDED = []


def _style() -> dict:
    """STYLE for the active language: English is STYLE itself (the same bytes as ever)."""
    lang = current()
    if lang.english:
        return STYLE
    if not _FONTS_ADDED:
        from matplotlib import font_manager

        for path in font_files():
            font_manager.fontManager.addfont(str(path))
        _FONTS_ADDED.append(True)
    families = sorted({p.stem.split("-")[0] for p in font_files()})
    # Families named one by one (not the generic "sans-serif"), so that matplotlib falls back to DejaVu
    # Sans glyph by glyph (arrows, Δ) where the language's font has none.
    return {**STYLE, "font.family": [*families, "DejaVu Sans"], "font.sans-serif": [*families, "DejaVu Sans"],
            "text.language": lang.code}


class _LocalDigits(ticker.Formatter):
    """Wraps an axis' formatter and writes its labels in the active language's digits and symbols."""

    def __init__(self, base: ticker.Formatter, lang):
        self.base, self.lang = base, lang

    def set_axis(self, axis):
        super().set_axis(axis)
        self.base.set_axis(axis)

    def set_locs(self, locs):
        self.base.set_locs(locs)

    def _local(self, text: str) -> str:
        return self.lang.number(text.replace("\N{MINUS SIGN}", "-"))

    def __call__(self, x, pos=None):
        return self._local(self.base(x, pos))

    def format_ticks(self, values):
        return [self._local(t) for t in self.base.format_ticks(values)]

    def get_offset(self):
        return self._local(self.base.get_offset())


def _rtl_first(text: str) -> str:
    """A label laid out right to left in a right-to-left language, even when it starts with a Latin
    name (a right-to-left mark first: matplotlib takes a line's direction from its first letter)."""
    return "\u200f" + text if current().rtl else text


def _local_ticks(*axes) -> None:
    """Tick labels in the active language's digits (English: untouched)."""
    lang = current()
    if lang.english:
        return
    for ax in axes:
        for axis in (ax.xaxis, ax.yaxis):
            if not isinstance(axis.get_major_formatter(), (_LocalDigits, ticker.FixedFormatter)):
                axis.set_major_formatter(_LocalDigits(axis.get_major_formatter(), lang))


def _reading_order(panels: list) -> list:
    """Panels placed left to right, returned in the order they are read: the module's convention for
    right-to-left languages (the first panel on the right)."""
    return list(panels)[::-1] if current().rtl else list(panels)


class _Percent(_LocalDigits):
    """Ticks in % ('20%', '۲۰٪'): the axis' own numbers (as many decimals as its spacing needs), in the
    language's digits, with its percent sign."""

    def __init__(self):
        super().__init__(ticker.ScalarFormatter(useOffset=False), current())

    def _local(self, text: str) -> str:
        with activated(self.lang):
            return percent(super()._local(text), space=False) if text else text

    def get_offset(self):
        return ""


def _count_ticks(lang) -> ticker.Formatter:
    """Powers of ten on a log axis as plain counts ('1', '10', '1,000'), in the language's digits."""
    return ticker.FuncFormatter(lambda x, pos=None: lang.format(round(x), ",")
                                if x >= 1 and np.isclose(np.log10(x), round(np.log10(x))) else "")


def _svg(fig) -> bytes:
    buf = io.BytesIO()
    with plt.rc_context(_style()):
        fig.savefig(buf, format="svg", metadata=_SVG_META)
    plt.close(fig)
    return buf.getvalue()


def _png(fig, *, tight: bool = False) -> bytes:
    """PNG at DPI in RGB: the background is opaque white, and WeasyPrint would write an alpha channel into the PDF
    as a second image, decoded and compressed again at every render; no Software tag (the same bytes everywhere).
    Charts keep the figure's own size, so they print at their drawn size; `tight` crops (the gallery)."""
    from PIL import Image

    buf, out = io.BytesIO(), io.BytesIO()
    with plt.rc_context(_style()):
        # Uncompressed: only its pixels are read back (compressing them twice cost ~0.2 s a chart).
        fig.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": 0},
                    **({"bbox_inches": "tight", "pad_inches": 0.02} if tight else {}))
    plt.close(fig)
    Image.open(buf).convert("RGB").save(out, format="PNG", dpi=(DPI, DPI))
    return out.getvalue()


def _forms(figure_fn):
    """A chart's two byte forms, `<name>_png` and `<name>_svg`, each drawn by `figure_fn` and cached."""
    def form(write, suffix):
        def chart(*args, **kwargs) -> bytes:
            return write(figure_fn(*args, **kwargs))
        chart.__name__ = chart.__qualname__ = figure_fn.__name__.removesuffix("_figure") + suffix
        chart.__doc__ = figure_fn.__doc__
        return chart
    return form(_png, "_png"), form(_svg, "_svg")


def _fitted_legend(fig, handles, labels, *, ncol: int, **kwargs):
    """A figure legend in one row if it fits the figure's width, else in as many columns as fit.

    In a right-to-left language the entries run from right to left, the order its reader reads them.
    """
    if current().rtl:
        handles, labels = list(handles)[::-1], list(labels)[::-1]
        kwargs.setdefault("markerfirst", False)
    renderer = fig.canvas.get_renderer()  # a legend's width needs its text measured, not the figure drawn
    for n in range(max(ncol, 1), 0, -1):
        legend = fig.legend(handles, labels, ncol=n, **kwargs)
        if n == 1 or legend.get_window_extent(renderer).width <= fig.bbox.width:
            return legend
        legend.remove()


def text_sizes(fig) -> list[tuple[str, float]]:
    """(text, size in pt) of every visible, non-empty text of a figure: what the tests hold to MIN_FONT_PT."""
    fig.canvas.draw()  # tick labels exist only once drawn
    return [(t.get_text(), t.get_fontsize()) for t in fig.findobj(matplotlib.text.Text)
            if t.get_visible() and t.get_text().strip()]


# ----------------------------------------------------------------------------- photographs


def mistakes_figure(images: np.ndarray, captions: list[str]):
    """Test images with their captions ('true → predicted', confidence) under each, 8 to a row."""
    n = len(images)
    cols = min(n, 8)
    rows = -(-n // cols)
    lines = max(c.count("\n") + 1 for c in captions)
    col_w = TEXT_WIDTH_IN / 8  # a caption line such as "→ automobile" must fit this width at 7 pt
    img = col_w * 0.72
    cap_h = lines * MIN_FONT_PT * 1.2 / 72 + 0.06
    row_h = img + cap_h + 0.06
    width, height = cols * col_w, rows * row_h
    with plt.rc_context(_style()):
        return _mistakes(images, captions, cols, col_w, img, row_h, width, height)


def _mistakes(images, captions, cols, col_w, img, row_h, width, height):
    fig = plt.figure(figsize=(width, height))
    rtl = current().rtl
    for i, (im, cap) in enumerate(zip(images, captions)):
        r, c = divmod(i, cols)
        if rtl:  # the most confident mistake first where a right-to-left reader starts: top right
            c = cols - 1 - c
        x, y = c * col_w + (col_w - img) / 2, height - r * row_h - img
        ax = fig.add_axes((x / width, y / height, img / width, img / height))
        ax.imshow(im, interpolation="nearest")
        ax.axis("off")
        fig.text((c + 0.5) * col_w / width, (y - 0.03) / height, cap, ha="center", va="top",
                 fontsize=MIN_FONT_PT, linespacing=1.1)
    return fig


def mistakes_png(images: np.ndarray, captions: list[str]) -> bytes:
    """The gallery of confident mistakes as PNG (photographs stay raster)."""
    return _png(mistakes_figure(images, captions), tight=True)


# ----------------------------------------------------------------------------- charts


def learning_curves_figure(histories: list[list[dict]], *, phase_starts: list[int], title: str | None = None,
                           augmented: bool = True):
    """Loss and accuracy (in %) per epoch, training and validation; mean and min-max band over seeds.

    The two are measured differently, and the legend says how: a training value is the mean over the epoch's
    batches (augmented when `augmented`, dropout active) while the weights were still changing; a validation
    value is measured once, after the epoch, on unaugmented images in evaluation mode. Validation above training
    is therefore what one expects early in training, not a fault. `phase_starts` are the 1-based epochs where a
    new learning-rate phase begins (dashed lines).
    """
    lang = current()
    with plt.rc_context(_style()):
        fig, axes = plt.subplots(1, 2, figsize=(TEXT_WIDTH_IN, 2.6), layout="constrained")
        loss_ax, acc_ax = _reading_order(axes)
        n_seeds = 0
        for ax, metric, label in ((loss_ax, "loss", _("cross-entropy loss")), (acc_ax, "acc", _("accuracy"))):
            scale = 100.0 if metric == "acc" else 1.0
            for split in ("train", "val"):
                curves = [np.array([row[f"{split}_{metric}"] for row in h], dtype=float) * scale
                          for h in histories if h]
                if not curves:
                    continue
                n = min(len(c) for c in curves)
                arr = np.stack([c[:n] for c in curves])
                n_seeds = max(n_seeds, len(arr))
                epochs = np.arange(1, n + 1)
                ax.plot(epochs, arr.mean(0), marker="o", markersize=2.5, color=PALETTE[split])
                if len(arr) > 1:
                    ax.fill_between(epochs, arr.min(0), arr.max(0), color=PALETTE[split], alpha=0.2, lw=0)
            for start in phase_starts:
                ax.axvline(start - 0.5, color="0.45", ls="--", lw=0.8)
            ax.set_xlabel(_("epoch"))
            ax.set_ylabel(label)
            ax.xaxis.get_major_locator().set_params(integer=True)
        _local_ticks(*axes)
        acc_ax.yaxis.set_major_formatter(_Percent())
        train = (_("training: mean over the epoch's augmented batches") if augmented
                 else _("training: mean over the epoch's batches"))
        handles = [Line2D([], [], color=PALETTE["train"], marker="o", markersize=2.5, label=train),
                   Line2D([], [], color=PALETTE["val"], marker="o", markersize=2.5,
                          label=_("validation: measured after the epoch"))]
        if n_seeds > 1:
            band = ngettext("line: mean of %(n)s seed; band: lowest to highest",
                            "line: mean of %(n)s seeds; band: lowest to highest", n_seeds)
            handles.append(Patch(color="0.45", alpha=0.3, lw=0, label=band % {"n": lang.integer(n_seeds)}))
        if phase_starts:
            handles.append(Line2D([], [], color="0.45", ls="--", lw=0.8, label=_("learning-rate phase change")))
        _fitted_legend(fig, handles, [h.get_label() for h in handles], ncol=len(handles),
                       loc="outside upper center", handlelength=1.8, columnspacing=1.5)
        if title:
            fig.suptitle(title)
    return fig


learning_curves_png, learning_curves_svg = _forms(learning_curves_figure)


def _cell_pt(values: np.ndarray, fmt: str) -> float:
    """Side of a square heatmap cell that holds the widest annotation at MIN_FONT_PT (DejaVu digits: 0.636 em)."""
    widest = max(len(format(v, fmt)) for v in values.ravel()) if values.size else 1
    return max(15.0, widest * 0.636 * MIN_FONT_PT + 3.5)


def _heatmap(ax, data: np.ndarray, fmt: str, vmax: float | None, classes: list[str], lang) -> None:
    """seaborn.heatmap's picture (cells, a number in each, dark text on light cells and white on dark ones,
    seaborn's luminance rule), drawn with matplotlib directly: seaborn draws the whole figure once per heatmap to
    check for overlapping tick labels, a third of a confusion figure's time, and the labels are set here anyway."""
    from seaborn.utils import relative_luminance

    mesh = ax.pcolormesh(data, cmap="Blues", vmin=0, vmax=vmax, linewidths=0)
    ax.set(xlim=(0, data.shape[1]), ylim=(0, data.shape[0]))
    ax.invert_yaxis()
    sns.despine(ax=ax, left=True, bottom=True)
    ax.set_xticks(np.arange(data.shape[1]) + 0.5, classes)
    ax.set_yticks(np.arange(data.shape[0]) + 0.5, classes, va="center")
    mesh.update_scalarmappable()
    for (i, j), value, color in zip(np.ndindex(data.shape), data.flat, mesh.get_facecolors()):
        ax.text(j + 0.5, i + 0.5, lang.number(format(value, fmt)), ha="center", va="center", fontsize=MIN_FONT_PT,
                color=".15" if relative_luminance(color) > 0.408 else "w")


def confusion_figure(cm: np.ndarray, classes: list[str], *, note: str | None = None):
    """Counts and row-normalised (recall per true class) heatmaps: side by side, or one above the
    other when the counts are too wide for two matrices to fit the text width at 7 pt. In a
    right-to-left language the counts stand on the right with the class names on their right
    (the module's convention for panels). `note` goes beside "counts" in its title ("seed 0")."""
    cm = np.asarray(cm)
    rows = cm.sum(1, keepdims=True)
    pct = 100 * np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    k = len(classes)
    cell = max(_cell_pt(cm, "d"), _cell_pt(np.round(pct), ".0f")) / 72  # inches
    mat = k * cell
    labels, gap, edge, top, bottom = 0.85, 0.1, 0.02, 0.22, 0.8  # room for labels, in inches
    side = labels + 2 * mat + gap + edge <= TEXT_WIDTH_IN
    width = labels + (2 * mat + gap if side else mat) + edge
    height = (top + mat + bottom) * (1 if side else 2)
    lang = current()
    rtl = lang.rtl
    with plt.rc_context(_style()):
        fig = plt.figure(figsize=(width, height))
        first_x = edge if rtl else labels  # the labels' margin is on the reader's side
        if side:
            boxes = _reading_order([(first_x, bottom), (first_x + mat + gap, bottom)])
        else:
            boxes = [(first_x, bottom + top + mat + bottom), (first_x, bottom)]
        axes = [fig.add_axes((x / width, y / height, mat / width, mat / height)) for x, y in boxes]
        counts = _("counts (%(note)s)") % {"note": note} if note else _("counts")
        shares = _("%(percent)s of each true class") % {"percent": percent("", space=False).strip()}
        for i, (ax, data, fmt, sub, vmax) in enumerate(zip(
                axes, (cm, pct), ("d", ".0f"), (counts, shares), (None, 100))):
            _heatmap(ax, data, fmt, vmax, classes, lang)
            ax.set_xlabel(_("predicted"))
            ax.tick_params(axis="x", labelrotation=90)
            ax.tick_params(axis="y", labelrotation=0)
            ax.tick_params(length=0)
            ax.set_title(sub, fontsize=8, pad=4)
            if side and i == 1:
                ax.set_yticklabels([])
                ax.set_ylabel("")
            else:
                ax.set_ylabel(_("true"))
                if rtl:
                    ax.yaxis.tick_right()
                    ax.yaxis.set_label_position("right")
    return fig


confusion_png, confusion_svg = _forms(confusion_figure)


def per_class_f1_figure(table: dict[str, dict[str, float]], classes: list[str]):
    """Grouped bars: F1 per class (x) for each model (hue). `table[model][class] = f1`."""
    import pandas as pd

    frame = pd.DataFrame([{"model": m, "class": c, "F1": f[c]} for m, f in table.items() for c in classes])
    with plt.rc_context(_style()):
        fig, ax = plt.subplots(figsize=(TEXT_WIDTH_IN, 2.5), layout="constrained")
        sns.barplot(frame, x="class", y="F1", hue="model", ax=ax, palette="colorblind")
        ax.set_ylim(0, 1)
        ax.set_xlabel("")
        ax.set_ylabel(_("F1 on the test set"))
        _local_ticks(ax)
        ax.legend_.remove()
        handles, labels = ax.get_legend_handles_labels()
        _fitted_legend(fig, handles, labels, ncol=len(table), loc="outside upper center", handlelength=1.2,
                       columnspacing=1.5)
    return fig


per_class_f1_png, per_class_f1_svg = _forms(per_class_f1_figure)


def _bin_counts(c: dict) -> np.ndarray | None:
    """Predictions per confidence bin (NaN: empty) of a calibration record (`counts`: its occupied bins')."""
    if c.get("counts") is None:
        return None
    n_bins = int(c.get("bins") or 15)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges[1:-1], np.asarray(c["confidence"], dtype=float), side="left"), 0, n_bins - 1)
    out = np.full(n_bins, np.nan)
    out[which] = np.asarray(c["counts"], dtype=float)
    return out


def reliability_figure(curves: dict[str, dict], *, few: int | None = None):
    """Reliability diagram: accuracy against mean confidence per bin (in %), one line per model, and under it
    how many predictions each bin holds (log scale), so that a point resting on a handful of predictions reads
    as such: bins with fewer than `few` (bench.results.learning.FEW_PER_BIN) are hollow points above and lie
    under the dotted line below. Curves without `counts` get no histogram."""
    from bench.results.learning import FEW_PER_BIN

    few = FEW_PER_BIN if few is None else few
    lang = current()
    binned = {name: _bin_counts(c) for name, c in curves.items()}
    with_counts = any(b is not None for b in binned.values())
    with plt.rc_context(_style()):
        legend_h = 0.13 * (len(curves) + 2)
        fig = plt.figure(figsize=(3.1, 2.75 + (0.95 if with_counts else 0) + legend_h), layout="constrained")
        grid = fig.add_gridspec(2 if with_counts else 1, 1, height_ratios=[2.75, 0.95] if with_counts else [1])
        ax = fig.add_subplot(grid[0])
        hist = fig.add_subplot(grid[1]) if with_counts else None
        ax.plot([0, 100], [0, 100], color="0.6", ls="--", lw=0.8, label=_("perfect calibration"))
        colors = sns.color_palette("colorblind", len(curves))
        any_sparse = False
        for color, (name, c) in zip(colors, curves.items()):
            conf, acc = 100 * np.asarray(c["confidence"], float), 100 * np.asarray(c["accuracy"], float)
            label = _rtl_first(_("%(model)s (ECE %(ece)s)") % {"model": lang.isolate(name),
                                                               "ece": lang.format(c["ece"], ".3f")})
            ax.plot(conf, acc, color=color, label=label)
            counts = np.asarray(c["counts"], float) if c.get("counts") is not None else np.full(len(conf), np.inf)
            sparse = counts < few
            any_sparse |= bool(sparse.any())
            ax.plot(conf[~sparse], acc[~sparse], ls="none", marker="o", markersize=2.8, color=color)
            ax.plot(conf[sparse], acc[sparse], ls="none", marker="o", markersize=2.8, color=color,
                    markerfacecolor="white", markeredgewidth=0.8)
            if hist is not None and binned[name] is not None:
                edges = np.linspace(0, 100, len(binned[name]) + 1)
                hist.stairs(binned[name], edges, color=color, lw=1.0, baseline=None)
        ax.set(xlim=(0, 100), ylim=(0, 100))
        for a in (ax, hist) if hist else (ax,):
            a.xaxis.set_major_formatter(_Percent())
        ax.yaxis.set_major_formatter(_Percent())
        ax.set_ylabel(_("accuracy"))
        handles, labels = ax.get_legend_handles_labels()
        if any_sparse or with_counts:
            handles.append(Line2D([], [], color="0.45", ls=":", lw=0.8, marker="o", markersize=2.8,
                                  markerfacecolor="white", markeredgecolor="0.35"))
            labels.append(ngettext("fewer than %(n)s prediction in the bin", "fewer than %(n)s predictions in the bin",
                                   few) % {"n": lang.format(few, ",")})
        if hist is not None:
            hist.set(yscale="log", xlim=(0, 100))
            hist.axhline(few, color="0.45", ls=":", lw=0.8)
            top = max(float(np.nanmax(b)) for b in binned.values() if b is not None and np.isfinite(b).any())
            hist.set_ylim(0.7, max(top, few) * 2.5)
            hist.yaxis.set_major_locator(ticker.LogLocator(base=10, numticks=4))
            hist.yaxis.set_minor_locator(ticker.NullLocator())
            hist.yaxis.set_major_formatter(_count_ticks(lang))
            hist.set_ylabel(_("predictions"))
            hist.set_xlabel(_("confidence (max softmax)"))
            ax.tick_params(labelbottom=False)
        else:
            ax.set_xlabel(_("confidence (max softmax)"))
        _local_ticks(*(a for a in (ax, hist) if a is not None))
        fig.legend(handles, labels, loc="outside lower center", ncol=1, handlelength=1.8, markerfirst=not lang.rtl)
    return fig


reliability_png, reliability_svg = _forms(reliability_figure)
