"""A report draws its charts, computes its analysis and hashes its files in worker processes
(bench.render.charts.workers) without changing a byte: a chart drawn by a worker is the chart drawn here, in every
language, and a report rendered with workers is the report rendered without them. How fast it is is measured by
scripts/bench_report_speed.py, not here."""

import sys
from pathlib import Path

import numpy as np
import pytest

from bench.render import cache, charts, i18n, report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "results"))  # tests/results/memory_run.py
from memory_run import memory_artifacts  # noqa: E402

CURVES = {"MLP": {"confidence": [0.15, 0.25, 0.55], "accuracy": [0.2, 0.3, 0.5], "counts": [400, 350, 40],
                  "bins": 15, "ece": 0.031}}
CLASSES = ["airplane", "automobile", "bird"]


def _two_workers(monkeypatch):
    monkeypatch.setenv(charts.WORKERS_ENV, "2")
    if not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_a_chart_drawn_by_a_worker_is_the_chart_drawn_here(monkeypatch, lang):
    _two_workers(monkeypatch)
    cm = np.arange(9).reshape(3, 3)
    with i18n.activated(i18n.Language(lang)):
        here = [charts.reliability_png(CURVES), charts.confusion_png(cm, CLASSES, note="seed 0")]
        with charts.workers():
            pending = [charts.reliability_png(CURVES), charts.confusion_png(cm, CLASSES, note="seed 0")]
            assert all(isinstance(p, charts.Pending) for p in pending)
            page = " ".join(report.figure_uri(p) for p in pending)
            assert page.count("bench-pending-figure-") == 2
            filled = charts.fill(page, report.figure_uri)
    assert filled == " ".join(report.figure_uri(b) for b in here)


def test_outside_a_report_charts_are_bytes_and_tokens_never_prefix_each_other(monkeypatch):
    _two_workers(monkeypatch)
    assert isinstance(charts.reliability_png(CURVES), bytes)
    with charts.workers():
        tokens = [report.figure_uri(charts.reliability_png(CURVES)) for _ in range(12)]
        charts.fill("", report.figure_uri)
    assert not any(a != b and b.startswith(a) for a in tokens for b in tokens)


def test_one_worker_means_none(monkeypatch):
    monkeypatch.setenv(charts.WORKERS_ENV, "1")
    with charts.workers() as pool:
        assert pool is None and charts.submit(int) is None


@pytest.mark.slow
def test_a_report_with_workers_is_the_report_without_them(tmp_path, monkeypatch):
    run = tmp_path / "run"  # the appendix lists every file under it: outputs and caches go elsewhere
    run.mkdir()
    arts = memory_artifacts(run, {"mlp": [0.5, 0.55, 0.6], "cnn": [0.7, 0.72, 0.71]})
    monkeypatch.setattr(report, "load_artifacts", lambda root: arts)
    pages = {}
    for workers in ("1", "2"):
        monkeypatch.setenv(charts.WORKERS_ENV, workers)
        monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / f"cache-{workers}"))  # a first render each time
        out = tmp_path / f"r{workers}" / "r.html"
        out.parent.mkdir()
        report.render_report(run, out, evidence=False)
        pages[workers] = (out.read_bytes(), out.with_suffix(".summary.json").read_bytes())
    assert pages["1"] == pages["2"]
