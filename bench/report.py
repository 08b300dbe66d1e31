"""The reporting stage: artifacts in, self-contained HTML and PDF out.

Reads only the artifacts directory (plus, optionally, the CIFAR-10 test images for the
gallery of confident mistakes). All numbers are computed here, from the saved
predictions and histories; all prose lives in the templates.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import os
import shlex
import time
from pathlib import Path

import numpy as np

from . import ARTIFACT_FORMAT, __version__
from . import artifacts as art
from . import plots, stats
from .errors import BenchError
from .metrics import confusion, per_class_table, summary_metrics
from .protocol import REFERENCE
from .rundir import Artifacts, SeedRun, load_artifacts  # noqa: F401  (re-exported)
from report_templates import TEMPLATES_DIR

OUT_EXTENSIONS = (".pdf", ".html")
ALPHA = 0.05


def check_out_path(out: Path, *, pending_dir: Path | None = None) -> Path:
    """Fail early on an --out that cannot be written: bad extension, missing or read-only folder.

    `pending_dir` is a folder that the command itself creates before it writes the report
    (`bench all`'s run directory); a report inside it passes.
    """
    out = Path(out)
    if out.suffix.lower() not in OUT_EXTENSIONS:
        raise BenchError(f"--out must end in {' or '.join(OUT_EXTENSIONS)}, got {out.name!r}")
    parent = out.parent if str(out.parent) else Path(".")
    if pending_dir is not None and parent.resolve() == Path(pending_dir).resolve() and not parent.exists():
        return out
    if not parent.is_dir():
        raise BenchError(f"cannot write {out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise BenchError(f"cannot write {out}: folder {parent} is not writable")
    if out.exists() and out.is_dir():
        raise BenchError(f"cannot write {out}: it is a directory")
    return out


# ----------------------------------------------------------------------------- analysis


def _seed_stats(run: SeedRun, classes: list[str]) -> dict:
    y, logits, pred = run.predictions["labels"], run.predictions["logits"], run.predictions["predicted"]
    m = summary_metrics(y, logits, num_classes=len(classes))
    correct = int((pred == y).sum())
    m["accuracy_ci"] = stats.wilson_interval(correct, len(y))
    m["macro_ci"] = stats.bootstrap_macro_intervals(y, pred, num_classes=len(classes))
    m["calibration"] = stats.calibration(y, logits)
    m["train_seconds"] = run.metrics.get("train_seconds")
    m["seed"] = run.seed
    return m


def _verdict(a: str, b: str, runs_a: dict, runs_b: dict, titles: dict) -> dict:
    """McNemar and paired bootstrap for every seed both models share."""
    per_seed = []
    for seed in sorted(set(runs_a) & set(runs_b)):
        pa, pb = runs_a[seed].predictions, runs_b[seed].predictions
        if not np.array_equal(pa["labels"], pb["labels"]):
            continue  # different test sets (another profile): not paired
        y = pa["labels"]
        test = stats.mcnemar_exact(pa["predicted"] == y, pb["predicted"] == y)
        diffs = stats.paired_difference_intervals(y, pa["predicted"], pb["predicted"])
        per_seed.append({"seed": seed, **test, "acc_diff": float((pa["predicted"] == y).mean() - (pb["predicted"] == y).mean()),
                         "acc_diff_ci": diffs["accuracy"], "f1_diff_ci": diffs["f1"],
                         "significant": test["p_value"] < ALPHA})
    n_sig = sum(s["significant"] for s in per_seed)
    return {"a": a, "b": b, "a_title": titles[a], "b_title": titles[b], "seeds": per_seed,
            "n_seeds": len(per_seed), "n_significant": n_sig,
            # A difference counts as real when most paired seeds find it significant.
            "significant": bool(per_seed) and n_sig * 2 > len(per_seed)}


def analyse(artifacts: Artifacts) -> dict:
    """Every number of the report, as plain data (also saved as summary.json)."""
    classes = artifacts.dataset["classes"]
    out = {"classes": classes, "models": {}, "pairs": [], "alpha": ALPHA, "confidence": stats.CONFIDENCE,
           "bootstrap": {"resamples": stats.N_RESAMPLES, "seed": stats.BOOTSTRAP_SEED, "method": "percentile"}}
    titles = {}
    finished = {}
    for model in artifacts.models():
        runs = artifacts.of(model)
        titles[model] = runs[0].config.get("title", model)
        done = [r for r in runs if r.status == "complete"]
        finished[model] = {r.seed: r for r in done}
        entry = {"title": titles[model], "seeds": [r.seed for r in runs],
                 "status": {str(r.seed): r.status for r in runs}, "complete_seeds": [r.seed for r in done],
                 "parameters": runs[0].config.get("parameters"), "reference": REFERENCE.get(model)}
        if done:
            per_seed = [_seed_stats(r, classes) for r in done]
            entry["per_seed"] = per_seed
            entry["aggregate"] = {k: stats.describe_seeds([s[k] for s in per_seed]) for k in
                                  ("accuracy", "loss", "macro_precision", "macro_recall", "macro_f1")}
            entry["aggregate"]["ece"] = stats.describe_seeds([s["calibration"]["ece"] for s in per_seed])
            entry["aggregate"]["train_seconds"] = stats.describe_seeds([s["train_seconds"] or 0.0 for s in per_seed])
            reports = [per_class_table(r.predictions["labels"], r.predictions["predicted"], classes) for r in done]
            entry["per_class"] = {
                row: {k: stats.describe_seeds([rep[row][k] for rep in reports])
                      for k in ("precision", "recall", "f1-score", "support")}
                for row in [*classes, "macro avg", "weighted avg"]}
            cm = sum(confusion(r.predictions["labels"], r.predictions["predicted"], len(classes)) for r in done)
            entry["confusion"] = cm.tolist()
            entry["top_confusions"] = stats.top_confusions(cm, classes)
            if entry["reference"]:
                entry["reference_diff"] = {
                    "accuracy": entry["aggregate"]["accuracy"]["mean"] - entry["reference"]["accuracy"],
                    "loss": entry["aggregate"]["loss"]["mean"] - entry["reference"]["loss"]}
        out["models"][model] = entry

    ranked = sorted((m for m in out["models"] if "aggregate" in out["models"][m]),
                    key=lambda m: -out["models"][m]["aggregate"]["accuracy"]["mean"])
    for a, b in itertools.combinations(ranked, 2):
        out["pairs"].append(_verdict(a, b, finished[a], finished[b], titles))
    pair = {(p["a"], p["b"]): p for p in out["pairs"]}
    # A model joins the rank of the best model of the current group when the two are not
    # significantly different; comparing with the group's leader (not the neighbour) keeps
    # ties from chaining across models that do differ significantly.
    ranking, rank, leader = [], 0, None
    for i, m in enumerate(ranked):
        tied = leader is not None and not pair[(leader, m)]["significant"]
        if not tied:
            rank, leader = i + 1, m
        ranking.append({"model": m, "title": titles[m], "rank": rank, "tied_with_previous": tied,
                        "tied_with": titles[leader] if tied else None,
                        "accuracy": out["models"][m]["aggregate"]["accuracy"]["mean"]})
    out["ranking"] = ranking
    if len(ranked) >= 2:
        best, second = ranked[0], ranked[1]
        out["headline"] = {"best": best, "best_title": titles[best], "second": second, "second_title": titles[second],
                           "margin": ranking[0]["accuracy"] - ranking[1]["accuracy"],
                           "verdict": pair[(best, second)]}
    elif ranked:
        out["headline"] = {"best": ranked[0], "best_title": titles[ranked[0]], "second": None}
    return out


# ----------------------------------------------------------------------------- rendering


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _mistake_gallery(run: SeedRun, classes: list[str], test_images: np.ndarray | None, k: int = 16):
    if test_images is None:
        return None
    y, pred, logits = run.predictions["labels"], run.predictions["predicted"], run.predictions["logits"]
    if len(y) > len(test_images):
        return None
    conf = stats.softmax(logits).max(1)
    wrong = np.flatnonzero(pred != y)
    top = wrong[np.argsort(-conf[wrong], kind="stable")][:k]
    captions = [f"{classes[y[i]]} → {classes[pred[i]]}\n{conf[i]:.0%}" for i in top]
    return _data_uri(plots.mistakes_png(test_images[top], captions)) if len(top) else None


def _load_test_images(data_dir: Path | None) -> tuple[np.ndarray | None, str]:
    from .data import BASE_FOLDER, TEST_FILES, _read_batches

    if data_dir is None:
        return None, "no --data-dir given, so the gallery of confident mistakes is left out"
    folder = Path(data_dir) / BASE_FOLDER
    if not (folder / TEST_FILES[0]).exists():
        return None, f"CIFAR-10 test images not found under {data_dir}, so the gallery is left out"
    try:
        images, _ = _read_batches(folder, TEST_FILES)
    except BenchError as exc:
        return None, f"the test images could not be read ({exc}), so the gallery is left out"
    return images, ""


def build_context(artifacts: Artifacts, summary: dict, *, title: str | None, author: str, affiliation: str,
                  data_dir: Path | None) -> dict:
    classes = summary["classes"]
    test_images, gallery_note = _load_test_images(data_dir)
    models = []
    f1_table = {}
    reliability = {}
    for name in artifacts.models():
        runs = artifacts.of(name)
        entry = summary["models"][name]
        cfg = runs[0].config
        spec = cfg["compute"]["spec"]
        phase_starts = list(itertools.accumulate(p["epochs"] for p in spec["phases"]))[:-1]
        phase_starts = [s + 1 for s in phase_starts]
        histories = [r.history for r in runs if r.history]
        m = {"name": name, "number": len(models) + 2, "title": entry["title"], "entry": entry, "config": cfg, "spec": spec,
             "runs": runs, "diverged": [r.seed for r in runs if r.status == "diverged"],
             "incomplete": [r.seed for r in runs if r.status == "incomplete"]}
        if histories:
            m["curves"] = _data_uri(plots.learning_curves_png(histories, phase_starts=phase_starts,
                                                              title=entry["title"]))
        if "confusion" in entry:
            cm = np.array(entry["confusion"])
            n_runs = len(entry["complete_seeds"])
            m["confusion_png"] = _data_uri(plots.confusion_png(
                cm, classes, title=entry["title"] + (f" (summed over {n_runs} seeds)" if n_runs > 1 else "")))
            f1_table[entry["title"]] = {c: entry["per_class"][c]["f1-score"]["mean"] for c in classes}
            reliability[entry["title"]] = entry["per_seed"][0]["calibration"]
            first = next(r for r in runs if r.status == "complete")
            m["gallery"] = _mistake_gallery(first, classes, test_images)
            m["gallery_seed"] = first.seed
        models.append(m)
    manifest = artifacts.manifest
    files = []
    for path in sorted(p for p in artifacts.root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = path.relative_to(artifacts.root)
        if rel.parts[0] in ("report.pdf", "report.html", "summary.json"):
            continue
        files.append({"path": str(rel), "bytes": path.stat().st_size, "sha256": art.sha256_file(path)})
    walls = [m.get("wall_seconds") or 0 for m in manifest.get("models", {}).values()]
    return {
        "title": title or "CIFAR-10 classifiers: a reproducible benchmark",
        "author": author, "affiliation": affiliation,
        # The newest artifact's date, not today's: the same artifacts give the same report.
        "date": _artifacts_date(artifacts),
        "summary": summary, "models": models, "classes": classes, "dataset": artifacts.dataset,
        "samples": _data_uri(artifacts.samples_png) if artifacts.samples_png else None,
        "manifest": manifest, "command": shlex.join(manifest.get("command", ["bench", "all"])),
        "total_wall_seconds": sum(walls),
        "f1_chart": _data_uri(plots.per_class_f1_png(f1_table, classes)) if len(f1_table) else None,
        "reliability": _data_uri(plots.reliability_png(reliability)) if reliability else None,
        "gallery_note": gallery_note, "ece_bins": stats.ECE_BINS, "files": files, "reference": REFERENCE,
        "bench_version": __version__, "artifact_format": ARTIFACT_FORMAT,
    }


def _artifacts_date(artifacts: Artifacts) -> str:
    stamp = max(((r.path / art.METRICS).stat().st_mtime for r in artifacts.runs if (r.path / art.METRICS).exists()),
                default=(artifacts.root / art.MANIFEST).stat().st_mtime)
    return dt.datetime.fromtimestamp(stamp, dt.timezone.utc).strftime("%Y-%m-%d")


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v, d=1: "–" if v is None else f"{100 * v:.{d}f}"
    env.filters["num"] = lambda v, d=3: "–" if v is None else f"{v:.{d}f}"
    env.filters["signed"] = lambda v, d=1: f"{v:+.{d}f}"
    env.filters["thousands"] = lambda v: f"{int(v):,}"
    env.filters["pvalue"] = lambda p: "< 0.001" if p < 0.001 else f"{p:.3f}"
    env.filters["duration"] = _duration
    return env


def _duration(seconds) -> str:
    seconds = float(seconds or 0)
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def render_html(context: dict) -> str:
    import markupsafe

    env = _environment()
    css = markupsafe.Markup((TEMPLATES_DIR / "style.css").read_text())
    return env.get_template("report.html.j2").render(css=css, **context)


def render_pdf(html: str) -> bytes:
    import logging

    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: WeasyPrint is there but Pango is not
        raise BenchError(f"PDF rendering needs WeasyPrint and Pango ({exc}); install them "
                         "(see README, Install) or ask for --out report.html") from None

    # WeasyPrint logs every unsupported CSS property at WARNING; the report's CSS is known.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    return weasyprint.HTML(string=html, base_url=str(TEMPLATES_DIR)).write_pdf()


def render_report(artifacts_dir: Path, out: Path, *, title: str | None = None, author: str = "",
                  affiliation: str = "", data_dir: Path | None = None, log=None) -> list[Path]:
    """Write <out>.html, <out>.pdf and summary.json beside them; return their paths."""
    out = check_out_path(out)
    t0 = time.perf_counter()
    artifacts = load_artifacts(artifacts_dir)
    summary = analyse(artifacts)
    context = build_context(artifacts, summary, title=title, author=author, affiliation=affiliation,
                            data_dir=data_dir)
    html = render_html(context)
    html_path, pdf_path = out.with_suffix(".html"), out.with_suffix(".pdf")
    try:
        pdf = render_pdf(html)
    except BenchError as exc:
        if out.suffix != ".html":
            raise
        # Asked for HTML: a machine without Pango (a bare GPU box) still gets its report.
        pdf = None
        if log:
            log(f"warning: no PDF written: {exc}")
    summary_path = out.parent / "summary.json"
    # Everything is rendered in memory first, so a failure leaves no partial file.
    art.write_bytes(html_path, html.encode())
    written = [html_path, summary_path]
    if pdf is not None:
        art.write_bytes(pdf_path, pdf)
        written.insert(0, pdf_path)
    art.write_json(summary_path, summary)
    if log:
        log(f"report rendered in {time.perf_counter() - t0:.1f}s")
    return written
