"""The report: artifacts in, self-contained HTML and PDF (and the worded summary.json) out.

Reads only the artifacts directory (plus, optionally, the CIFAR-10 test images for the gallery of
confident mistakes). The numbers come from bench.results.study; their words from bench.render.text;
the run's own records from bench.render.facts and the transfer discussion from bench.render.transfer.
This module puts them together into what the templates print, so that no protocol fact is written
into a template, and hands the page to bench.render.outputs.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from bench import ARTIFACT_FORMAT, __version__
from bench.errors import BenchError
from bench.protocol import REFERENCE
from bench.render import cache, charts, facts, i18n, outputs
from bench.render.i18n import N_, _, current
from bench.render.text import join, long_date, percent, recorded_text
from bench.render.verdicts import worded_summary
from bench.render.transfer import transfer_facts
from bench.results import inference, learning, stats
from bench.results.study import analyse
from bench.rundir import layout
from bench.rundir.rundir import Artifacts, SeedRun, load_artifacts

# Names the report prints that come from the run's records, not from this code: the built-in models'
# titles and descriptions (bench/models), the study's notes (bench/protocol.py) and CIFAR-10's
# classes. Marked here for the catalogue; tests/render/test_i18n.py checks that they match their sources.
BUILTIN_TEXTS = (
    N_("MLP"), N_("CNN"), N_("CNN + BN + Dropout"), N_("VGG16 transfer"),
    N_("3072-256-128-10 fully connected, ReLU"),
    N_("3 blocks of 2 conv3x3+ReLU and max-pool (32-64, 128-128, 256-256), FC 4096-1024-512-10"),
    N_("the CNN with BatchNorm after every conv and Dropout(0.5) after each hidden dense layer"),
    N_("ImageNet VGG16 conv blocks (1-3 frozen, 4-5 tuned), global pool, head 512-256-10"),
    N_("the study kept Adam at one rate for 10 epochs; the last 2 epochs here run at a tenth of it, which settles "
       "the weights at no extra cost"),
    N_("as for the CNN: the last 2 of the 10 epochs at a tenth of the rate"),
    N_("tuned conv blocks at a tenth of the head's rate, so that the new head settles before it can disturb the "
       "pretrained filters"),
)
CIFAR10_CLASSES = (N_("airplane"), N_("automobile"), N_("bird"), N_("cat"), N_("deer"), N_("dog"), N_("frog"),
                   N_("horse"), N_("ship"), N_("truck"))


def figure_uri(data: bytes) -> str:
    """A figure as a data: URI: PNG (the charts and photographs the report prints) or SVG, told apart by their
    bytes. Charts are drawn at their printed size (bench.render.plots, which says why PNG) and PNGs print at
    plots.DPI (style.css, image-resolution), so the stylesheet never scales a chart.
    """
    token = charts.pending_token(data)
    if token is not None:  # drawn by a worker: its URI goes in when the page is written (charts.fill)
        return token
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        mime = "image/png"
    elif b"<svg" in data[:4096]:
        mime = "image/svg+xml"
    else:
        raise ValueError("a figure must be PNG or SVG bytes")
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def mistake_gallery(run: SeedRun, classes: list[str], test_images: np.ndarray | None, k: int = 16) -> str | None:
    """The `k` most confident mistakes of one seed, as a picture with their captions."""
    if test_images is None:
        return None
    y, pred, logits = run.predictions["labels"], run.predictions["predicted"], run.predictions["logits"]
    if len(y) > len(test_images):
        return None
    lang = current()
    conf = stats.softmax(logits).max(1)
    wrong = np.flatnonzero(pred != y)
    top = wrong[np.argsort(-conf[wrong], kind="stable")][:k]
    # "true\n→ predicted\nconfidence"; right-to-left languages point the arrow their way.
    captions = [_("%(true)s\n→ %(predicted)s\n%(confidence)s") % {
        "true": recorded_text(classes[y[i]]), "predicted": recorded_text(classes[pred[i]]),
        "confidence": percent(lang.format(conf[i] * 100, ".0f"), space=False)} for i in top]
    return figure_uri(charts.mistakes_png(test_images[top], captions)) if len(top) else None


def load_test_images(data_dir: Path | None) -> tuple[np.ndarray | None, str]:
    """CIFAR-10's test images for the gallery, or None and why the gallery is left out."""
    from bench.data.cifar10 import BASE_FOLDER, TEST_FILES, read_batches

    lang = current()
    if data_dir is None:
        return None, _("no %(option)s given, so the gallery of confident mistakes is left out") % {
            "option": lang.ltr("--data-dir")}
    folder = Path(data_dir) / BASE_FOLDER
    if not (folder / TEST_FILES[0]).exists():
        return None, _("CIFAR-10 test images not found under %(folder)s, so the gallery is left out") % {
            "folder": lang.ltr(data_dir)}
    try:
        images, _labels = read_batches(folder, TEST_FILES)
    except BenchError as exc:
        return None, _("the test images could not be read (%(error)s), so the gallery is left out") % {
            "error": lang.ltr(exc)}
    return images, ""


def artifact_files(artifacts: Artifacts) -> list[dict]:
    """Every file of the run directory with its size and SHA-256 (the appendix)."""
    files = []
    for path in sorted(p for p in artifacts.root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = path.relative_to(artifacts.root)
        # Reports written into the run directory are outputs of this stage, not artifacts.
        if len(rel.parts) == 1 and rel.name.endswith((".pdf", ".html", ".summary.json", ".lock")):
            continue
        files.append({"path": str(rel), "bytes": path.stat().st_size,
                      "sha256": cache.file_sha256(path, layout.sha256_file)})  # checkpoints: hashed once
    return files


def early_figures(runs: list[SeedRun], classes: list[str], test_images: np.ndarray | None) -> dict:
    """A model's charts that need no analysis (learning curves, gallery), asked for before the analysis is done so
    that workers draw them meanwhile (bench.render.charts); model_context prints the gallery only where the
    analysis has a confusion matrix."""
    out = {}
    spec = runs[0].config["compute"]["spec"]
    phase_starts = [s + 1 for s in list(itertools.accumulate(p["epochs"] for p in spec["phases"]))[:-1]]
    histories = [r.history for r in runs if r.history]
    if histories:
        out["curves"] = figure_uri(charts.learning_curves_png(histories, phase_starts=phase_starts,
                                                             augmented=spec.get("augment", True)))
    first = next((r for r in runs if r.status == "complete"), None)
    if first is not None:
        out["gallery"], out["gallery_seed"] = mistake_gallery(first, classes, test_images), first.seed
    return out


def model_context(name: str, number: int, runs: list[SeedRun], entry: dict, summary: dict, data: dict,
                  weights: dict, class_names: dict, early: dict) -> dict:
    """One model's section: its records, protocol table, figures (`early`: early_figures) and gallery."""
    lang = current()
    classes = summary["classes"]
    cfg = runs[0].config
    spec = cfg["compute"]["spec"]
    own = [d for d in summary["departures"] if name in d["models"]]
    m = {"name": name, "number": number, "title": entry["title"], "entry": entry, "config": cfg,
         "spec": spec, "runs": runs, "diverged": [r.seed for r in runs if r.status == "diverged"],
         "incomplete": [r.seed for r in runs if r.status == "incomplete"],
         "n_complete": len(entry["complete_seeds"]), "departures": own,
         "protocol_rows": facts.protocol_rows(name, cfg, data, weights.get(name), own),
         "description": facts.description(name, cfg, weights.get(name)),
         "weights": weights.get(name)}
    if "curves" in early:
        m["curves"] = early["curves"]
    if "confusion" in entry:
        cm = np.array(entry["confusion"]["counts"])
        seed = entry["confusion"]["seed"]
        m["confusion_png"] = figure_uri(charts.confusion_png(cm, [class_names[c] for c in classes],
                                                            note=_("seed %(seed)s") % {"seed": lang.integer(seed)}))
        m["gallery"], m["gallery_seed"] = early["gallery"], early["gallery_seed"]
    return m


def resolved(value):
    """A worker's result (waited for) or the value itself."""
    return value.result() if isinstance(value, Future) else value


def build_context(artifacts: Artifacts, summary: dict | Future, *, title: str | None, author: str,
                  affiliation: str, data_dir: Path | None, files: list[dict] | Future | None = None) -> dict:
    """What the templates print, in the active language (bench.render.i18n; English unless activated).

    `summary` is analyse()'s data, or a Future of it (a worker's, render_report); its words are written here, in
    the report's language, once. `files`: artifact_files(artifacts), or a Future of it, when already asked for.
    """
    lang = current()
    classes = artifacts.dataset["classes"]
    test_images, gallery_note = load_test_images(data_dir)
    # Asked for first: with workers (bench.render.charts) they are drawn while the analysis finishes.
    early = {name: early_figures(artifacts.of(name), classes, test_images) for name in artifacts.models()}
    summary = worded_summary(resolved(summary))
    classes = summary["classes"]
    class_names = {c: recorded_text(c) for c in classes}
    data = facts.data_facts(artifacts)
    weights = facts.weights(artifacts)
    models = [model_context(name, i + 2, artifacts.of(name), summary["models"][name], summary, data, weights,
                            class_names, early[name]) for i, name in enumerate(artifacts.models())]
    done = [summary["models"][m["name"]] for m in models if "confusion" in summary["models"][m["name"]]]
    f1_table = {e["title"]: {class_names[c]: e["per_class"][c]["f1-score"]["mean"] for c in classes} for e in done}
    # The curves pool every healthy seed's predictions; the ECE in each legend is the model's figure the text states
    # (the mean of the per-seed ECEs), so the figure and the sentences never disagree.
    reliability = {e["title"]: {**e["calibration"], "ece": e["calibration_over_seeds"]["mean"]}
                   if e.get("calibration_over_seeds") else e["calibration"] for e in done}
    run = facts.run_record(artifacts, models)
    augmented = [m["title"] for m in models if m["spec"].get("augment", True)]
    plain = [m["title"] for m in models if not m["spec"].get("augment", True)]
    return {
        "language": lang, "lang": lang.code, "dir": lang.direction, "class_names": class_names,
        "title": title or _("CIFAR-10 classifiers: a reproducible benchmark"),
        "author": author, "affiliation": affiliation,
        # When the training finished, not today: the same artifacts give the same report.
        "date": run["date"] or "", "date_text": long_date(run["date"]),
        "summary": summary, "models": models, "classes": classes, "dataset": artifacts.dataset, "data": data,
        "run": run, "weights": weights, "comparison": facts.comparison_facts(summary),
        "augmentation": facts.augmentation_text(data),
        "augmented": {"all": bool(augmented) and not plain, "some": join(augmented), "none": join(plain)},
        "pair_index": {f"{p['a']}|{p['b']}": p for p in summary["pairs"]},
        "transfer": transfer_facts(summary, models, data), "optimisers": facts.optimiser_facts(models),
        "samples": figure_uri(artifacts.samples_png) if artifacts.samples_png else None,
        "manifest": artifacts.manifest,
        "f1_chart": figure_uri(charts.per_class_f1_png(f1_table, [class_names[c] for c in classes]))
        if len(f1_table) else None,
        "reliability": figure_uri(charts.reliability_png(reliability)) if reliability else None,
        "conf": percent(lang.plain(100 * stats.CONFIDENCE)),
        "gallery_note": gallery_note, "ece_bins": stats.ECE_BINS,
        "files": artifact_files(artifacts) if files is None else resolved(files),
        "few_per_bin": learning.FEW_PER_BIN, "min_seeds_interval": inference.MIN_SEEDS_INTERVAL,
        "reference": REFERENCE, "bench_version": __version__, "artifact_format": ARTIFACT_FORMAT,
    }


def render_html(context: dict) -> str:
    lang = context.get("language") or current()
    return outputs.render_page("report.html.j2", lang, css=outputs.stylesheet(lang), **context)


_JOBS: dict = {}


@contextlib.contextmanager
def _jobs_cleared():
    try:
        yield
    finally:
        _JOBS.clear()


def _job(name: str):
    """_JOBS[name]() in a worker: called by name, so that what it needs is inherited, not pickled."""
    return _JOBS[name]()


def render_report(artifacts_dir: Path, out: Path, *, title: str | None = None, author: str = "",
                  affiliation: str = "", data_dir: Path | None = None, log=None, lang: str = "en",
                  digits: str = "native", evidence: bool = True) -> list[Path]:
    """Write <out>.html, <out>.pdf and <out>.summary.json beside them (bench.render.outputs' rule); return their paths.

    `lang`: the report's language (bench.render.i18n.languages()); `digits`: "native" (the language's own,
    Persian digits for fa) or "latin". summary.json's numbers are the same in every language; its words
    are the report's.
    """
    out = outputs.check_out(out)
    language = i18n.Language(lang, digits)
    t0 = time.perf_counter()
    # Damaged artifacts are refused here, by the run directory's readers; anything that fails after
    # this point is a bug of bench, and propagates as one.
    artifacts = load_artifacts(artifacts_dir)
    # What forked workers run (bench.render.charts.workers): set before they start, so that they inherit it.
    _JOBS.update(analysis=lambda: cache.analysis(artifacts, analyse), files=lambda: artifact_files(artifacts))
    with i18n.activated(language), cache.figures(), charts.workers(), _jobs_cleared():
        # The analysis (the same in every language) and the charts come from the cache when this run was rendered
        # before; a first render computes the analysis and hashes the run's files in workers while the charts
        # that need neither are drawn.
        hit = cache.analysis_hit(artifacts)
        if not hit and charts.worker_count() > 1:
            # What every worker would import (scipy for the analysis and the gallery's softmax, matplotlib and
            # seaborn for the charts; a first render draws them all): once, before they fork.
            from bench.render import plots  # noqa: F401
        summary = hit[0] if hit else charts.submit(_job, "analysis")
        files = None if hit else charts.submit(_job, "files")
        if summary is None:
            summary = cache.analysis(artifacts, analyse)
        context = build_context(artifacts, summary, title=title, author=author, affiliation=affiliation,
                                data_dir=data_dir, files=files)
        # The evidence the PDF embeds and the appendix lists (bench.render.outputs; False: --no-evidence).
        context["evidence"] = outputs.report_evidence(artifacts.root, out, context["summary"], embed=evidence)
        html = charts.fill(render_html(context), figure_uri)
    written = outputs.write_outputs(out, html, context["summary"], log=log, evidence=context["evidence"])
    if log:
        log(f"report rendered in {time.perf_counter() - t0:.1f}s")
    return written


__all__ = ["analyse", "build_context", "figure_uri", "load_artifacts", "render_html", "render_report"]
