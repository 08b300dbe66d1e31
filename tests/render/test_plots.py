"""The figures: charts at printed size with no text under 7 pt, deterministic bytes, printed as PNG at plots.DPI
(the same figure as the vector form whose words the tests read)."""

import re

import numpy as np
import pytest

from bench.render import plots as plots
from conftest import CLASSES

TEXT_BLOCK_PT = 178 / 25.4 * 72  # the report's text width: a chart must fit without being scaled


def svg_size_pt(svg: bytes) -> tuple[float, float]:
    """Width and height of an SVG written by bench.render.plots, in points (its printed size)."""
    m = re.search(r'<svg[^>]*?width="([\d.]+)pt"[^>]*?height="([\d.]+)pt"', svg[:2000].decode("utf-8", "replace"),
                  re.S)
    return float(m.group(1)), float(m.group(2))


def _histories(seeds=2, epochs=12):
    rng = np.random.default_rng(0)
    return [[{"train_loss": 2 - 0.1 * e + rng.random() * 0.05, "val_loss": 2.1 - 0.08 * e,
              "train_acc": 0.05 * e, "val_acc": 0.045 * e} for e in range(epochs)] for _ in range(seeds)]


def _confusion(diagonal=870):
    rng = np.random.default_rng(1)
    cm = rng.integers(0, 40, (10, 10))
    cm[np.diag_indices(10)] = diagonal
    return cm


MODELS = ["MLP", "CNN", "CNN + BN + Dropout", "VGG16 transfer"]
CHARTS = {
    "learning_curves": lambda: ((_histories(),), {"phase_starts": [6, 10]}),
    "learning_curves_one_seed": lambda: ((_histories(seeds=1),), {"phase_starts": []}),
    "confusion": lambda: ((_confusion(), CLASSES), {"note": "seed 0"}),
    "confusion_summed": lambda: ((_confusion(2950), CLASSES), {"note": "summed over 3 seeds"}),
    "confusion_wide_counts": lambda: ((_confusion(29500), CLASSES), {}),  # five digits: stacked
    "per_class_f1": lambda: (({m: {c: (i + j) / 14 for j, c in enumerate(CLASSES)} for i, m in enumerate(MODELS)},
                              CLASSES), {}),
    "per_class_f1_many_models": lambda: (({m: {c: 0.5 for c in CLASSES} for m in MODELS + [
        "ResNet-18 (pretrained, fine-tuned)", "Vision transformer, small"]}, CLASSES), {}),
    "reliability": lambda: (({m: {"confidence": np.linspace(0.15, 0.95, 9), "accuracy": np.linspace(0.1, 0.9, 9),
                                  "ece": 0.05 * i} for i, m in enumerate(MODELS)},), {}),
}


def _name(case):
    return next(n for n in ("learning_curves", "confusion", "per_class_f1", "reliability") if case.startswith(n))


@pytest.mark.parametrize("case", sorted(CHARTS))
def test_chart_is_svg_deterministic_and_fits_the_text_width(case):
    args, kwargs = CHARTS[case]()
    svg_fn = getattr(plots, _name(case) + "_svg")
    a, b = svg_fn(*args, **kwargs), svg_fn(*args, **kwargs)
    assert a == b  # same data, same bytes: the report stays byte-identical
    assert b"<svg" in a[:2000] and b"<image" not in a  # vector, nothing rasterised
    assert b"<text" not in a  # text as outlines: the same glyphs in every viewer
    assert b"<dc:date>" not in a  # no timestamp
    width, height = svg_size_pt(a)
    assert 0 < width <= TEXT_BLOCK_PT and 0 < height < 700


@pytest.mark.parametrize("case", sorted(CHARTS))
def test_printed_chart_is_png_of_the_same_figure_at_its_drawn_size(case):
    """What the report prints: PNG at plots.DPI, deterministic, of the very size the vector form has, so that
    style.css's image-resolution prints it at its drawn size (within the text width) and the words read from
    the SVG are the words of the printed chart."""
    from PIL import Image
    import io

    args, kwargs = CHARTS[case]()
    png_fn = getattr(plots, _name(case) + "_png")
    a, b = png_fn(*args, **kwargs), png_fn(*args, **kwargs)
    assert a == b and a[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(a))
    width_pt, height_pt = (px / plots.DPI * 72 for px in image.size)
    svg_w, svg_h = svg_size_pt(getattr(plots, _name(case) + "_svg")(*args, **kwargs))
    assert abs(width_pt - svg_w) <= 72 / plots.DPI and abs(height_pt - svg_h) <= 72 / plots.DPI
    assert width_pt <= TEXT_BLOCK_PT
    assert image.info.get("Software") is None  # no version stamp: the same bytes on every machine


@pytest.mark.parametrize("case", sorted(CHARTS))
def test_no_chart_text_is_smaller_than_7pt(case):
    args, kwargs = CHARTS[case]()
    fig = getattr(plots, _name(case) + "_figure")(*args, **kwargs)
    sizes = plots.text_sizes(fig)
    assert sizes, "the figure has text"
    small = [(t, s) for t, s in sizes if s < plots.MIN_FONT_PT]
    assert not small
    drawn = fig.get_tightbbox(fig.canvas.get_renderer())  # everything drawn, in inches
    width, height = fig.get_size_inches()
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, \
        ("cut off at the figure's edge", drawn, width, height)
    if case.startswith("confusion"):  # every cell is annotated: 2 x 100 numbers
        assert sum(bool(re.fullmatch(r"\d+", t)) for t, _ in sizes) >= 200
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_confusion_matrices_side_by_side_until_counts_are_too_wide():
    narrow = svg_size_pt(plots.confusion_svg(_confusion(2950), CLASSES))
    wide = svg_size_pt(plots.confusion_svg(_confusion(29500), CLASSES))
    assert narrow[0] > narrow[1]  # four-digit counts: one row of two matrices
    assert wide[1] > wide[0] and wide[0] <= TEXT_BLOCK_PT  # five digits: one above the other


def test_photographs_stay_png_with_legible_captions():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (13, 32, 32, 3), dtype=np.uint8)
    captions = ["automobile\n→ automobile\n97%"] * 13
    png = plots.mistakes_png(images, captions)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    fig = plots.mistakes_figure(images, captions)
    assert min(s for _, s in plots.text_sizes(fig)) >= plots.MIN_FONT_PT
    assert fig.get_size_inches()[0] * 72 <= TEXT_BLOCK_PT
    from PIL import Image
    import io

    width_in = Image.open(io.BytesIO(png)).size[0] / plots.DPI  # printed at DPI (style.css image-resolution)
    assert width_in * 72 <= TEXT_BLOCK_PT


def test_figure_uri_tells_svg_from_png():
    from bench.render.report import figure_uri

    svg = plots.reliability_svg({"A": {"confidence": [0.5], "accuracy": [0.5], "ece": 0.0}})
    assert figure_uri(svg).startswith("data:image/svg+xml;base64,")
    assert figure_uri(b"\x89PNG\r\n\x1a\n" + b"\0" * 8).startswith("data:image/png;base64,")
    with pytest.raises(ValueError):
        figure_uri(b"GIF89a")


def test_persian_charts_have_persian_words_digits_and_shaped_text():
    """--lang fa: labels from the catalogue, tick labels and cells in Persian digits, and text that
    matplotlib shapes itself (letters joined, laid out right to left), in the shipped Vazirmatn font."""
    from matplotlib import _text_helpers, font_manager

    from bench.render import i18n as i18n
    with i18n.activated(i18n.Language("fa")):
        fig = plots.learning_curves_figure(_histories(), phase_starts=[6, 10])
        texts = [t for t, _ in plots.text_sizes(fig)]
        assert "دوره" in texts and "صحت" in texts
        assert any(len(t) > 10 and "۲" in t for t in texts)  # the legend's "mean of 2 seeds", in Persian digits
        assert not [t for t in texts if re.search(r"[0-9]", t)], texts  # every tick in Persian digits
        assert any(re.fullmatch(r"[۰-۹]+٫[۰-۹]+", t) for t in texts)
        cm = plots.confusion_figure(_confusion(), CLASSES, note="بذر ۰")
        cells = [t for t, _ in plots.text_sizes(cm) if re.fullmatch(r"[۰-۹]+", t)]
        assert len(cells) >= 200
        svg = plots.reliability_svg({"MLP": {"confidence": [0.5], "accuracy": [0.4], "ece": 0.1}})
        assert svg == plots.reliability_svg({"MLP": {"confidence": [0.5], "accuracy": [0.4], "ece": 0.1}})
        assert b"<text" not in svg
        font = font_manager.get_font(font_manager.findfont("Vazirmatn", fallback_to_default=False))
    plt_close(fig, cm)
    font.set_size(8, 72)
    word = list(_text_helpers.layout("بذر", font))
    by_char = {i.char: i for i in word}
    assert by_char["ب"].x > by_char["ذ"].x > by_char["ر"].x  # first letter rightmost: right to left
    alone = list(_text_helpers.layout("ب", font))[0]
    assert by_char["ب"].glyph_index != alone.glyph_index  # joined (initial) form, not the isolated one


def plt_close(*figs):
    import matplotlib.pyplot as plt

    for fig in figs:
        plt.close(fig)
