"""The figures say what they plot (issue 22), read from the SVG's own text (matplotlib writes every text of a
chart as a comment beside its outlines): learning curves name how training and validation are measured and give
accuracy in %, the reliability diagram shows how many predictions each bin holds, panels follow the reading order
of a right-to-left language, and a chart's text stays inside its box in both languages. The cache (bench.render.
cache) gives what is computed and writes nothing into the run directory."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bench.render import cache, charts, i18n, plots
from conftest import CLASSES


def texts(svg: bytes) -> list[str]:
    return [t.replace("&#39;", "'") for t in re.findall(r"<!-- (.*?) -->", svg.decode())]


def _histories(seeds=2, epochs=6):
    rng = np.random.default_rng(0)
    return [[{"train_loss": 2 - 0.1 * e + rng.random() * 0.05, "val_loss": 1.9 - 0.1 * e,
              "train_acc": 0.2 + 0.05 * e, "val_acc": 0.25 + 0.05 * e} for e in range(epochs)] for _ in range(seeds)]


# Two bins of the first model hold fewer than 100 predictions: they must read as sparse.
CURVES = {"MLP": {"confidence": [0.15, 0.25, 0.35, 0.55, 0.75], "accuracy": [0.2, 0.3, 0.33, 0.5, 0.9],
                  "counts": [400, 350, 180, 40, 30], "bins": 15, "ece": 0.031},
          "CNN": {"confidence": [0.2, 0.4, 0.6], "accuracy": [0.25, 0.45, 0.55], "counts": [500, 300, 200],
                  "bins": 15, "ece": 0.02}}


def test_learning_curves_say_how_training_and_validation_are_measured_and_give_accuracy_in_percent():
    words = texts(plots.learning_curves_svg(_histories(), phase_starts=[4]))
    assert "training: mean over the epoch's augmented batches" in words
    assert "validation: measured after the epoch" in words
    assert "line: mean of 2 seeds; band: lowest to highest" in words
    accuracy_ticks = [w for w in words if w.endswith("%")]
    assert len(accuracy_ticks) >= 3 and all(re.fullmatch(r"\d+(\.\d+)?%", w) for w in accuracy_ticks)
    # No accuracy is printed as a fraction: the loss axis is the only one with plain decimals, all above 1.
    assert all(float(w) > 1 for w in words if re.fullmatch(r"\d\.\d+", w))
    plain = texts(plots.learning_curves_svg(_histories(seeds=1), phase_starts=[], augmented=False))
    assert "training: mean over the epoch's batches" in plain and not any("seeds" in w for w in plain)


def test_reliability_diagram_shows_predictions_per_bin_and_marks_sparse_bins():
    words = texts(plots.reliability_svg(CURVES))
    assert "predictions" in words and "fewer than 100 predictions in the bin" in words
    assert {"10", "100"} <= set(words)  # the count axis, plain counts on a log scale
    assert "40%" in words and "accuracy" in words
    fig = plots.reliability_figure(CURVES)
    main, hist = fig.axes[:2]
    drawn = [p for p in hist.patches if hasattr(p, "get_data")]  # one step outline of counts per model
    assert len(drawn) == 2
    values = np.asarray(drawn[0].get_data().values)
    assert np.nansum(values) == sum(CURVES["MLP"]["counts"]) and np.isnan(values).sum() == 15 - 5
    hollow = [line for line in main.lines if line.get_markerfacecolor() in ("white", (1.0, 1.0, 1.0, 1.0))
              and len(line.get_xdata())]
    assert [np.round(line.get_xdata(), 6).tolist() for line in hollow] == [[55.0, 75.0]]  # MLP's bins under 100
    plt.close(fig)


def _centre_x(ax):
    return ax.get_position().x0 + ax.get_position().width / 2


def test_panels_run_right_to_left_in_persian():
    cm = np.random.default_rng(1).integers(0, 40, (10, 10)) + np.diag([800] * 10)
    for code in ("en", "fa"):
        with i18n.activated(i18n.Language(code)):
            fig = plots.confusion_figure(cm, CLASSES, note="n")
            counts, shares = fig.axes
            curves = plots.learning_curves_figure(_histories(), phase_starts=[])
            loss = next(ax for ax in curves.axes if ax.get_ylabel() == i18n._("cross-entropy loss"))
            acc = next(ax for ax in curves.axes if ax is not loss)
        first_on_right = code == "fa"
        assert (_centre_x(counts) > _centre_x(shares)) == first_on_right
        assert (_centre_x(loss) > _centre_x(acc)) == first_on_right
        # Class names beside the counts, on the reader's side.
        assert counts.yaxis.get_label_position() == ("right" if first_on_right else "left")
        assert not [t for t in shares.get_yticklabels() if t.get_text()]
        plt.close(fig)
        plt.close(curves)


@pytest.mark.parametrize("code", ["en", "fa"])
@pytest.mark.parametrize("chart", ["curves", "confusion", "reliability"])
def test_figure_text_stays_inside_its_box(code, chart):
    cm = np.random.default_rng(1).integers(0, 40, (10, 10)) + np.diag([900] * 10)
    with i18n.activated(i18n.Language(code)):
        fig = {"curves": lambda: plots.learning_curves_figure(_histories(), phase_starts=[3]),
               "confusion": lambda: plots.confusion_figure(cm, CLASSES, note="seed 0"),
               "reliability": lambda: plots.reliability_figure(CURVES)}[chart]()
        sizes = plots.text_sizes(fig)
        drawn = fig.get_tightbbox(fig.canvas.get_renderer())
    width, height = fig.get_size_inches()
    assert min(s for _, s in sizes) >= plots.MIN_FONT_PT
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01
    assert width * 72 <= 178 / 25.4 * 72
    plt.close(fig)


def test_charts_from_the_cache_are_the_charts_drawn(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BENCH_CACHE", raising=False)
    drawn = plots.reliability_png(CURVES)
    assert charts.reliability_png(CURVES) == drawn  # outside a report's render: drawn, nothing stored
    assert not (tmp_path / "cache").exists()
    with cache.figures():
        first = charts.reliability_png(CURVES)
        again = charts.reliability_png(CURVES)
        with i18n.activated(i18n.Language("fa")):
            persian = charts.reliability_png(CURVES)
    assert drawn == first == again and persian != drawn  # a language is part of the key
    assert len(list((tmp_path / "cache" / "figures").iterdir())) == 2
    monkeypatch.setenv("BENCH_CACHE", "off")
    with cache.figures():
        charts.reliability_png({**CURVES, "VGG": CURVES["CNN"]})
    assert len(list((tmp_path / "cache" / "figures").iterdir())) == 2  # off: nothing read or written


def test_a_report_from_the_cache_imports_no_plotting_library(tmp_path):
    """A chart the cache holds costs no matplotlib, seaborn, scipy or pandas import (bench.render.charts)."""
    import subprocess
    import sys

    code = f"""
import os, sys
os.environ["BENCH_CACHE_DIR"] = {str(tmp_path / "cache")!r}
os.environ.pop("BENCH_CACHE", None)
from bench.render import cache, charts
curves = {CURVES!r}
with cache.figures():
    first = charts.reliability_png(curves)
print(sorted(m for m in ("matplotlib", "seaborn", "scipy", "pandas") if m in sys.modules))
"""
    run = lambda: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert run().strip() == "['matplotlib', 'pandas', 'scipy', 'seaborn']"  # a miss draws it
    assert run().strip() == "[]"  # a hit imports none of them


def same(a, b) -> bool:
    """Equal values of equal types all the way down, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    return a == b


def test_analysis_from_the_cache_is_the_analysis_and_never_written_into_the_run(tiny_run, tmp_path, monkeypatch):
    from bench.results.study import analyse
    from bench.rundir.rundir import load_artifacts
    from conftest import tree_digest

    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BENCH_CACHE", raising=False)
    before = tree_digest(tiny_run)
    artifacts = load_artifacts(tiny_run)
    computed = analyse(artifacts)
    first, second = cache.analysis(artifacts, analyse), cache.analysis(artifacts, analyse)
    assert same(first, computed) and same(second, computed)
    assert len(list((tmp_path / "cache" / "analysis").iterdir())) == 1
    assert tree_digest(tiny_run) == before
    # Records changed in memory (a retitled model) are another key, never the first run's analysis.
    assert cache.records_digest(artifacts) == cache.records_digest(load_artifacts(tiny_run))
    import dataclasses
    artifacts.runs = [dataclasses.replace(r, config={**r.config, "title": "Renamed"}) for r in artifacts.runs]
    assert cache.records_digest(artifacts) != cache.records_digest(load_artifacts(tiny_run))
    renamed = cache.analysis(artifacts, analyse)
    assert {e["title"] for e in renamed["models"].values()} == {"Renamed"}
    assert len(list((tmp_path / "cache" / "analysis").iterdir())) == 2


def test_a_files_digest_is_hashed_once_and_again_when_the_file_changes(tmp_path, monkeypatch):
    """The appendix's SHA-256 of every run file (checkpoints: 70-160 MB each) comes from the cache while the file
    is the same file, unchanged."""
    import os

    from bench.rundir import layout

    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BENCH_CACHE", raising=False)
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"weights" * 1000)
    calls = []

    def digest(p):
        calls.append(p)
        return layout.sha256_file(p)

    first = cache.file_sha256(path, digest)
    assert first == layout.sha256_file(path) and cache.file_sha256(path, digest) == first and len(calls) == 1
    path.write_bytes(b"other weights" * 1000)
    os.utime(path, ns=(1, 1))
    assert cache.file_sha256(path, digest) == layout.sha256_file(path) != first and len(calls) == 2
