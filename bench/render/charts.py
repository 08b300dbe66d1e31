"""The report's charts and photographs as bytes: from the cache (bench.render.cache) when this run's report drew
them before, else drawn by bench.render.plots, in worker processes while a report renders (`workers`).

Why a module of its own: bench.render.plots imports matplotlib and seaborn (and, through seaborn, scipy and
pandas), ~2 s of a report's start-up. A report rendered again in the same language (after a template change,
or for a second reader) finds every chart in the cache, so only a miss imports plots. The names are plots' own
byte forms, with the same arguments (tests/render/test_figures_read.py holds them equal).

Why workers: a first render drew its 14 charts one after another (~7 s CPU of a 4-model x 5-seed report) after
the analysis (~6 s), on a machine with two cores or more. Inside `workers()` a chart that the cache lacks is
drawn by a forked process and the call returns a `Pending` at once; the report prints its `token` where the
data: URI goes, and `fill` puts the bytes in once the page is written. The same code draws the same bytes in
any process (fixed style, fonts and seeds; tests/render/test_report_speed.py compares them), so the report is
the same, byte for byte, with and without workers. The analysis and the appendix's file hashes run there too
(bench.render.report).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from concurrent.futures import Future
from typing import Callable

from bench.render.cache import figure as cached_figure

WORKERS_ENV = "BENCH_WORKERS"  # processes a report may use: "1" draws everything in the process itself
MAX_WORKERS = 4  # a report has ~14 charts; more processes would mostly wait


class Pending:
    """A chart being drawn by a worker: `token` stands for its data: URI until `fill` replaces it."""

    _ids = itertools.count()

    def __init__(self, future: Future):
        self.future = future
        self.token = f"bench-pending-figure-{os.getpid()}-{next(self._ids):08d}"  # fixed width: no token starts another

    def result(self) -> bytes:
        return self.future.result()


_POOL: dict = {"executor": None, "pending": {}, "forked": False}


def worker_count() -> int:
    """Processes for a report: the CPUs this process may use (at most MAX_WORKERS), or BENCH_WORKERS."""
    wanted = os.environ.get(WORKERS_ENV, "").strip()
    if wanted:
        try:
            return max(1, int(wanted))
        except ValueError:
            return 1
    if "torch" in sys.modules:
        # `bench all` renders in the process that trained: torch's OpenMP runtime does not survive a fork in every
        # build, and the report is a small part of such a run. Only an explicit BENCH_WORKERS forks there.
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return min(cpus, MAX_WORKERS)


@contextlib.contextmanager
def workers():
    """Within this block, submit() runs jobs in forked worker processes (Linux, 2+ CPUs, BENCH_WORKERS not 1)
    and a chart missing from the cache is drawn by one of them (a Pending); elsewhere everything runs here.
    Fork, not spawn: a worker starts with the report's modules already imported and its records in memory."""
    n = worker_count()
    if n < 2 or not sys.platform.startswith("linux") or _POOL["executor"] is not None:
        yield None
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    executor = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork"))
    _POOL.update(executor=executor, pending={}, forked=False)
    try:
        yield executor
    finally:
        _POOL.update(executor=None, pending={}, forked=False)
        executor.shutdown(wait=True, cancel_futures=True)


def submit(fn: Callable, *args, **kwargs) -> Future | None:
    """fn(*args, **kwargs) in a worker (a Future), or None outside `workers()`: the caller runs it itself."""
    executor = _POOL["executor"]
    if executor is None:
        return None
    _POOL["forked"] = True  # ProcessPoolExecutor forks its workers at the first submit
    return executor.submit(fn, *args, **kwargs)


def pending_token(value) -> str | None:
    """The token a report prints for a Pending chart (registered for `fill`), None for bytes."""
    if not isinstance(value, Pending):
        return None
    _POOL["pending"][value.token] = value
    return value.token


def fill(html: str, uri: Callable[[bytes], str]) -> str:
    """The page with every pending chart's token replaced by uri(its bytes), waiting for the workers."""
    for token, pending in list(_POOL["pending"].items()):
        html = html.replace(token, uri(pending.result()))
    return html


def _draw_in_worker(name: str, language: tuple[str, str], args: tuple, kwargs: dict) -> bytes:
    """plots.<name>(*args, **kwargs) in a worker, in the report's language (code, digits)."""
    from bench.render import i18n, plots

    with i18n.activated(_language(*language)):
        return getattr(plots, name)(*args, **kwargs)


_LANGUAGES: dict = {}


def _language(code: str, digits: str):
    from bench.render import i18n

    if (code, digits) not in _LANGUAGES:
        _LANGUAGES[(code, digits)] = i18n.Language(code, digits)
    return _LANGUAGES[(code, digits)]


def _drawn(name: str):
    """plots.<name>, imported and called only when the cache does not hold its bytes for these arguments."""

    def chart(*args, **kwargs) -> bytes:
        from bench.render import plots

        return getattr(plots, name)(*args, **kwargs)

    def deferred(*args, **kwargs) -> Pending | None:
        from bench.render.i18n import current

        lang = current()
        if _POOL["executor"] is not None and not _POOL["forked"]:
            from bench.render import plots  # imported here once, before the workers fork, not in each

            plots._style()  # and the language's fonts registered once
        future = submit(_draw_in_worker, name, (lang.code, lang.digits), args, kwargs)
        return None if future is None else Pending(future)

    chart.__name__ = chart.__qualname__ = name
    return cached_figure(chart, deferred=deferred)


learning_curves_png = _drawn("learning_curves_png")
confusion_png = _drawn("confusion_png")
per_class_f1_png = _drawn("per_class_f1_png")
reliability_png = _drawn("reliability_png")
mistakes_png = _drawn("mistakes_png")
