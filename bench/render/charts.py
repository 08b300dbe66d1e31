"""The report's charts and photographs as bytes: from the cache (bench.render.cache) when this run's report drew
them before, else drawn by bench.render.plots.

Why a module of its own: bench.render.plots imports matplotlib and seaborn (and, through seaborn, scipy and
pandas), ~2 s of a report's start-up. A report rendered again in the same language (after a template change,
or for a second reader) finds every chart in the cache, so only a miss imports plots. The names are plots' own
byte forms, with the same arguments (tests/render/test_figures_read.py holds them equal).
"""

from __future__ import annotations

from bench.render.cache import figure as cached_figure


def _drawn(name: str):
    """plots.<name>, imported and called only when the cache does not hold its bytes for these arguments."""

    def chart(*args, **kwargs) -> bytes:
        from bench.render import plots

        return getattr(plots, name)(*args, **kwargs)

    chart.__name__ = chart.__qualname__ = name
    return cached_figure(chart)


learning_curves_png = _drawn("learning_curves_png")
confusion_png = _drawn("confusion_png")
per_class_f1_png = _drawn("per_class_f1_png")
reliability_png = _drawn("reliability_png")
mistakes_png = _drawn("mistakes_png")
