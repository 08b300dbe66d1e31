"""`bench compare RUN_A RUN_B`: two run directories side by side.

What it answers: for the models (and seeds) both runs trained, is B more or less accurate than A,
and what differs between the two runs (protocol, data, device, precision, versions, commit, ...)?
Typical uses: CPU vs GPU, fast vs torchvision input pipeline, before vs after a code change, two
protocols.

Choices, so that every sentence can be checked against the numbers of ``<out>.summary.json``:

- Differences are B minus A, in accuracy points (and in macro F1).
- Two runs are *paired* when they were evaluated on the same test set: the same test-split digest
  (``dataset.json`` ``digests.test``) and the same labels (``test_labels_sha256``). Everything else
  may differ; that is what is being compared. Paired, each seed both runs finished gets the exact
  McNemar test on A's and B's predictions of the same images and paired bootstrap intervals of the
  accuracy and macro-F1 differences. A difference at one seed is *established* when McNemar
  p < ALPHA and the accuracy interval excludes 0 on the same side (the rule of bench.results.analysis);
  across seeds, B (or A) is called more accurate when that holds in more than half of the paired
  seeds, and the mean difference gets a Student t interval over the seeds.
- Not paired (different test sets), no test is made: each run's accuracy is shown with its own
  interval (Wilson over the test images for one seed, t over seeds for several), and the verdict
  only says whether those intervals overlap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench import __version__
from bench.rundir import layout as art
from bench.results import stats
from bench.results.analysis import ALPHA, CONFIDENCE, METHODS, interval, t_interval
from bench.errors import BenchError
from bench.rundir.rundir import Artifacts, flatten, load_artifacts
from bench.render.assets import TEMPLATES_DIR

OUT_EXTENSIONS = (".pdf", ".html")
TEMPLATE = "compare.html.j2"
STYLESHEETS = ("style.css", "compare.css")
ABSENT = "(absent)"   # a key that one run's record does not have

# Run-level settings compared between the two directories: (category, where, record) with `where`
# one of "directory" (manifest["directory"], the fingerprinted record) or "manifest".
SETTING_SOURCES = (
    ("profile", "directory", "profile"),
    ("data", "directory", "data"),
    ("device", "directory", "device_type"),
    ("device", "manifest", "device_name"),
    ("precision", "directory", "precision"),
    ("threads", "directory", "torch_threads"),
    ("versions", "directory", "versions"),
    ("commit", "manifest", "git_commit"),
    ("executor", "manifest", "executor"),
    ("options", "manifest", "options"),
)

DECISION_RULE = (f"a difference at one seed is established when the exact McNemar p < {ALPHA:g} and the "
                 f"{100 * CONFIDENCE:g} % paired bootstrap interval of the accuracy difference (B - A) excludes 0 on "
                 "the same side; over several seeds, a run is called more accurate when that holds in its favour "
                 "in more than half of the paired seeds")


# ----------------------------------------------------------------------------- checks


def check_out(out: Path) -> Path:
    """The --out path: .pdf or .html in a writable folder; anything else is one line."""
    from bench.render.report import check_out_path

    # The same rule as the report's: the three files it writes, in a folder that exists and is writable.
    return check_out_path(out)


def summary_path(out: Path) -> Path:
    """compare.pdf -> compare.summary.json (named after the report, as `bench report` does)."""
    return Path(out).with_suffix(".summary.json")


# ----------------------------------------------------------------------------- small helpers


def _value(v: Any) -> Any:
    """A JSON-able value as it is recorded (None stays None)."""
    return json.loads(json.dumps(v, default=str))


def show(v: Any) -> str:
    """A recorded value as printed: strings as they are, the rest as compact JSON."""
    if v is None:
        return "(not recorded)"
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return f"{v:g}"
    return json.dumps(v, sort_keys=True, separators=(", ", ": "))


def pvalue(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def p_cell(p: float) -> str:
    """A p-value in a table column headed 'p': '< 0.001' or '0.043'."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def points(v: float, digits: int = 2) -> str:
    return f"{100 * v:+.{digits}f}"


def ci_points(ci: dict | None, digits: int = 2) -> str:
    if not ci:
        return ""
    return f"[{points(ci['low'], digits)}, {points(ci['high'], digits)}]"


def _decision(p_value: float, ci: tuple[float, float]) -> str:
    """'b', 'a' or 'none' for a difference B - A: the report's rule (analysis._decision), whose first side is B here."""
    from bench.results.analysis import _decision as report_decision

    return {"a": "b", "b": "a", "none": "none"}[report_decision(p_value, ci)]


def _complete(artifacts: Artifacts, model: str) -> dict[int, Any]:
    return {r.seed: r for r in artifacts.of(model) if r.status == "complete"}


def test_set(artifacts: Artifacts) -> dict:
    ds = artifacts.dataset
    return {"digest": ds["digests"].get("test"), "labels_sha256": ds["test_labels_sha256"],
            "images": int(ds["shapes"]["test"][0])}


def same_test_set(a: dict, b: dict) -> tuple[bool, str]:
    """Whether two runs saw the same test images with the same labels, and a sentence saying so."""
    same_images, same_labels = a["digest"] == b["digest"], a["labels_sha256"] == b["labels_sha256"]
    if same_images and same_labels:
        return True, (f"Both runs were evaluated on the same {a['images']:,} test images (same test-set digest and "
                      "labels): the comparison is paired, image by image.")
    what = []
    if not same_images:
        what.append("test-set digests")
    if not same_labels:
        what.append("test labels")
    sizes = (f" ({a['images']:,} vs {b['images']:,} images)" if a["images"] != b["images"] else "")
    return False, (f"The runs were evaluated on different test sets: their {' and '.join(what)} differ{sizes}. "
                   "No paired test is possible; each run's accuracy is shown with its own interval.")


# ----------------------------------------------------------------------------- what differs


def setting_rows(a: Artifacts, b: Artifacts) -> list[dict]:
    """Every run-level setting of both runs, flattened: {"what", "key", "a", "b", "same"}."""
    rows = []
    for what, where, key in SETTING_SOURCES:
        src_a = a.manifest["directory"] if where == "directory" else a.manifest
        src_b = b.manifest["directory"] if where == "directory" else b.manifest
        va, vb = src_a.get(key), src_b.get(key)
        if where == "manifest" and key == "options":
            # device and precision are compared through the directory record already
            va = {k: v for k, v in (va or {}).items() if k not in ("device", "precision")}
            vb = {k: v for k, v in (vb or {}).items() if k not in ("device", "precision")}
        fa = flatten(va, key) if isinstance(va, dict) else {key: va}
        fb = flatten(vb, key) if isinstance(vb, dict) else {key: vb}
        for k in sorted(set(fa) | set(fb)):
            x, y = _value(fa.get(k, ABSENT)), _value(fb.get(k, ABSENT))
            rows.append({"what": what, "key": k, "a": x, "b": y, "same": x == y})
    return rows


def protocol_rows(run_a, run_b) -> list[dict]:
    """The keys of two models' protocol records (config["compute"], seed excluded) whose values differ."""
    fa = flatten({k: v for k, v in run_a.config["compute"].items() if k != "seed"})
    fb = flatten({k: v for k, v in run_b.config["compute"].items() if k != "seed"})
    rows = []
    for k in sorted(set(fa) | set(fb)):
        x, y = _value(fa.get(k, ABSENT)), _value(fb.get(k, ABSENT))
        if x != y:
            rows.append({"key": k, "a": x, "b": y})
    return rows


# ----------------------------------------------------------------------------- paired comparison


def paired_seed(y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, *, num_classes: int, model: str,
                seed: int | None = None) -> dict:
    """McNemar and paired bootstrap intervals of B - A on one test set, with the verdict that follows them."""
    correct_a, correct_b = pred_a == y, pred_b == y
    test = stats.mcnemar_exact(correct_a, correct_b)
    # paired_difference_intervals gives first-minus-second: B first, so that the intervals are of B - A.
    diffs = stats.paired_difference_intervals(y, pred_b, pred_a, num_classes=num_classes)
    f1_a = float(stats.macro_scores(y, pred_a, num_classes=num_classes)["f1"])
    f1_b = float(stats.macro_scores(y, pred_b, num_classes=num_classes)["f1"])
    acc_a, acc_b = float(correct_a.mean()), float(correct_b.mean())
    acc_ci = diffs["accuracy"]
    decision = _decision(test["p_value"], acc_ci)
    significant = test["p_value"] < ALPHA
    excludes_zero = acc_ci[0] > 0 or acc_ci[1] < 0
    acc_ci_text = ci_points({"low": acc_ci[0], "high": acc_ci[1]})
    detail = f"{points(acc_b - acc_a)} points {acc_ci_text}, McNemar {pvalue(test['p_value'])}"
    if decision == "b":
        short, sentence = "B more accurate", f"B is more accurate than A for {model} ({detail})"
    elif decision == "a":
        short, sentence = "A more accurate", f"A is more accurate than B for {model} ({detail})"
    else:
        why = ("" if not (significant or excludes_zero) else
               f": McNemar p < {ALPHA:g} but the interval includes 0" if significant else
               f": the interval excludes 0 but McNemar p ≥ {ALPHA:g}")
        short = "no difference established"
        sentence = f"no difference established for {model}{why} ({detail})"
    if seed is not None:
        sentence += f" at seed {seed}"
    return {"seed": seed, "n": int(len(y)), "accuracy_a": acc_a, "accuracy_b": acc_b,
            "macro_f1_a": f1_a, "macro_f1_b": f1_b,
            "acc_diff": acc_b - acc_a, "acc_diff_ci": interval(*acc_ci, "paired_bootstrap"),
            "f1_diff": f1_b - f1_a, "f1_diff_ci": interval(*diffs["f1"], "paired_bootstrap"),
            "mcnemar": {"a_only": test["a_only"], "b_only": test["b_only"], "p_value": test["p_value"],
                        "test": METHODS["mcnemar"]},
            "significant": significant, "decision": decision, "verdict": short,
            "sentence": sentence[0].upper() + sentence[1:] + "."}


def _overall(model: str, rows: list[dict]) -> dict:
    """The line under a model's per-seed rows: seeds significant, mean difference and its t interval, verdict."""
    n = len(rows)
    diffs = [r["acc_diff"] for r in rows]
    n_sig = sum(r["significant"] for r in rows)
    n_b = sum(r["decision"] == "b" for r in rows)
    n_a = sum(r["decision"] == "a" for r in rows)
    mean = float(np.mean(diffs))
    ci = t_interval(diffs, (-1.0, 1.0)) if n > 1 else rows[0]["acc_diff_ci"]
    f1_mean = float(np.mean([r["f1_diff"] for r in rows]))
    f1_ci = t_interval([r["f1_diff"] for r in rows], (-1.0, 1.0)) if n > 1 else rows[0]["f1_diff_ci"]
    if n == 1:
        decision, sentence = rows[0]["decision"], rows[0]["sentence"].replace(f" at seed {rows[0]['seed']}", "")
        short = rows[0]["verdict"]
    else:
        detail = (f"mean {points(mean)} points {ci_points(ci)} over {n} seeds, t interval; "
                  f"McNemar p < {ALPHA:g} in {n_sig} of {n}")
        if n_b * 2 > n:
            decision, short = "b", f"B more accurate ({n_b} of {n} seeds)"
            sentence = f"B is more accurate than A for {model}: established in {n_b} of {n} seeds ({detail})."
        elif n_a * 2 > n:
            decision, short = "a", f"A more accurate ({n_a} of {n} seeds)"
            sentence = f"A is more accurate than B for {model}: established in {n_a} of {n} seeds ({detail})."
        else:
            decision, short = "none", "no difference established"
            sentence = (f"No difference established for {model} over {n} seeds: B more accurate in {n_b}, A in {n_a} "
                        f"({detail}).")
    return {"n_seeds": n, "n_significant": n_sig, "n_b_better": n_b, "n_a_better": n_a,
            "mean_acc_diff": mean, "acc_diff_ci": ci, "mean_f1_diff": f1_mean, "f1_diff_ci": f1_ci,
            "mean_accuracy_a": float(np.mean([r["accuracy_a"] for r in rows])),
            "mean_accuracy_b": float(np.mean([r["accuracy_b"] for r in rows])),
            "decision": decision, "verdict": short, "sentence": sentence}


# ----------------------------------------------------------------------------- unpaired comparison


def _accuracy_interval(runs: list) -> dict:
    """A run's accuracy over its complete seeds: Wilson for one seed, t over seeds for several."""
    accs, counts = [], []
    for r in runs:
        y, p = r.predictions["labels"], r.predictions["predicted"]
        accs.append(float((p == y).mean()))
        counts.append((int((p == y).sum()), len(y)))
    if len(accs) == 1:
        ci = interval(*stats.wilson_interval(*counts[0]), "wilson")
    else:
        ci = t_interval(accs, (0.0, 1.0))
    return {"seeds": [r.seed for r in runs], "accuracy": float(np.mean(accs)), "per_seed": accs, "ci": ci}


def unpaired_model(model: str, runs_a: list, runs_b: list) -> dict:
    a, b = _accuracy_interval(runs_a), _accuracy_interval(runs_b)
    overlap = a["ci"]["low"] <= b["ci"]["high"] and b["ci"]["low"] <= a["ci"]["high"]
    diff = b["accuracy"] - a["accuracy"]
    text = (f"A {100 * a['accuracy']:.2f} % [{100 * a['ci']['low']:.2f}, {100 * a['ci']['high']:.2f}], "
            f"B {100 * b['accuracy']:.2f} % [{100 * b['ci']['low']:.2f}, {100 * b['ci']['high']:.2f}]")
    if overlap:
        short = "not paired; intervals overlap"
        sentence = (f"Not paired for {model} (different test sets): {text}; the intervals overlap, "
                    "no difference is shown.")
    else:
        higher = "B" if diff > 0 else "A"
        short = f"not paired; intervals disjoint ({higher} higher)"
        sentence = (f"Not paired for {model} (different test sets): {text}; the intervals do not overlap ({higher} "
                    "higher), but as the test sets differ this is no paired test of the models.")
    return {"a": a, "b": b, "acc_diff": diff, "intervals_overlap": overlap, "verdict": short, "sentence": sentence}


# ----------------------------------------------------------------------------- the whole comparison


def _run_record(artifacts: Artifacts, path: Path) -> dict:
    m, d = artifacts.manifest, artifacts.manifest["directory"]
    return {"path": str(path), "profile": (d.get("profile") or {}).get("name"), "device_type": d.get("device_type"),
            "device_name": m.get("device_name"), "precision": d.get("precision"),
            "torch_threads": d.get("torch_threads"), "git_commit": m.get("git_commit"),
            "executor": (m.get("executor") or {}).get("name"), "finished_at": m.get("finished_at"),
            "test_set": test_set(artifacts),
            "models": {model: [r.seed for r in artifacts.of(model)] for model in artifacts.models()},
            "complete": {model: sorted(_complete(artifacts, model)) for model in artifacts.models()},
            "titles": {model: artifacts.of(model)[0].config.get("title", model) for model in artifacts.models()}}


def compare(dir_a: Path, dir_b: Path) -> dict:
    """Every number and sentence of the comparison, as plain data (also saved as <out>.summary.json)."""
    a, b = load_artifacts(dir_a), load_artifacts(dir_b)
    models_a, models_b = a.models(), b.models()
    shared = [m for m in models_a if m in models_b]
    if not shared:
        raise BenchError(f"{dir_a} and {dir_b} share no model ({', '.join(models_a)} vs {', '.join(models_b)}); "
                         "nothing to compare")
    ts_a, ts_b = test_set(a), test_set(b)
    paired, test_sentence = same_test_set(ts_a, ts_b)
    if paired and a.dataset["classes"] != b.dataset["classes"]:
        paired, test_sentence = False, "The runs name their classes differently; no paired test is made."
    classes = a.dataset["classes"]
    out: dict = {
        "kind": "bench compare", "bench_version": __version__,
        "a": _run_record(a, Path(dir_a)), "b": _run_record(b, Path(dir_b)),
        "direction": "differences are B minus A (accuracy in points = percentage points)",
        "paired": paired, "test_set": {"same": paired, "a": ts_a, "b": ts_b, "sentence": test_sentence},
        "alpha": ALPHA, "confidence": CONFIDENCE,
        "methods": {k: METHODS[k] for k in ("mcnemar", "paired_bootstrap", "t_seeds", "wilson")},
        "decision_rule": DECISION_RULE,
        "matched": {"models": shared, "only_a": [m for m in models_a if m not in models_b],
                    "only_b": [m for m in models_b if m not in models_a]},
        "models": {},
    }
    for model in shared:
        seeds_a = [r.seed for r in a.of(model)]
        seeds_b = [r.seed for r in b.of(model)]
        done_a, done_b = _complete(a, model), _complete(b, model)
        both = sorted(set(seeds_a) & set(seeds_b))
        entry = {"title": a.of(model)[0].config.get("title", model),
                 "seeds": {"shared": both, "only_a": sorted(set(seeds_a) - set(seeds_b)),
                           "only_b": sorted(set(seeds_b) - set(seeds_a))},
                 "paired": paired, "not_compared": [],
                 "protocol_differences": protocol_rows(a.of(model)[0], b.of(model)[0])}
        for seed in both:
            missing = [f"{side}: {run.status}" for side, runs in (("A", a), ("B", b))
                       for run in runs.of(model) if run.seed == seed and run.status != "complete"]
            if missing:
                entry["not_compared"].append({"seed": seed, "reason": "; ".join(missing)})
        if paired:
            rows = []
            for seed in both:
                if seed not in done_a or seed not in done_b:
                    continue
                pa, pb = done_a[seed].predictions, done_b[seed].predictions
                if not np.array_equal(pa["labels"], pb["labels"]):  # guarded by the label digest; never expected
                    entry["not_compared"].append({"seed": seed, "reason": "labels differ"})
                    continue
                rows.append(paired_seed(pa["labels"], pa["predicted"], pb["predicted"], num_classes=len(classes),
                                        model=model, seed=seed))
            entry["per_seed"] = rows
            if rows:
                entry["overall"] = _overall(model, rows)
            else:
                entry["overall"] = None
                entry["sentence"] = f"{model}: no seed finished in both runs; nothing to compare."
        else:
            if done_a and done_b:
                entry["unpaired"] = unpaired_model(model, list(done_a.values()), list(done_b.values()))
            else:
                entry["unpaired"] = None
                entry["sentence"] = f"{model}: no complete seed in {'A' if not done_a else 'B'}; nothing to compare."
        out["models"][model] = entry
    settings = setting_rows(a, b)
    out["differences"] = {
        "settings": [{k: r[k] for k in ("what", "key", "a", "b")} for r in settings if not r["same"]],
        "same_settings": [r["key"] for r in settings if r["same"]],
        "protocol": {m: e.pop("protocol_differences") for m, e in out["models"].items()},
    }
    out["differences_headline"] = _differences_headline(out)
    return out


def _differences_headline(summary: dict) -> str:
    parts = []
    whats: list[str] = []
    for r in summary["differences"]["settings"]:
        if r["what"] not in whats:
            whats.append(r["what"])
    if whats:
        parts.append(", ".join(whats))
    for model, rows in summary["differences"]["protocol"].items():
        if rows:
            keys = [r["key"] for r in rows]
            shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
            parts.append(f"protocol of {model} ({shown})")
    return ("the runs differ in " + "; ".join(parts)) if parts else "no recorded setting differs between the runs"


# ----------------------------------------------------------------------------- terminal


def _acc_ci(side: dict) -> str:
    return f"{100 * side['accuracy']:.2f} [{100 * side['ci']['low']:.2f}, {100 * side['ci']['high']:.2f}]"


TABLE_HEAD = ("model", "seeds paired", "acc A %", "acc B %", "diff B-A [95 % CI]", "p", "verdict")


def table_rows(summary: dict) -> list[tuple[str, ...]]:
    rows = []
    for model, e in summary["models"].items():
        if e.get("per_seed"):
            per_seed, o = e["per_seed"], e["overall"]
            if len(per_seed) > 1:
                for r in per_seed:
                    rows.append((model, str(r["seed"]), f"{100 * r['accuracy_a']:.2f}", f"{100 * r['accuracy_b']:.2f}",
                                 f"{points(r['acc_diff'])} {ci_points(r['acc_diff_ci'])}",
                                 p_cell(r["mcnemar"]["p_value"]), r["verdict"]))
            seeds = ",".join(str(r["seed"]) for r in per_seed)
            p = (p_cell(per_seed[0]["mcnemar"]["p_value"]) if len(per_seed) == 1 else
                 f"{o['n_significant']}/{o['n_seeds']} < {ALPHA:g}")
            rows.append((model if len(per_seed) == 1 else f"{model} (mean)", seeds,
                         f"{100 * o['mean_accuracy_a']:.2f}", f"{100 * o['mean_accuracy_b']:.2f}",
                         f"{points(o['mean_acc_diff'])} {ci_points(o['acc_diff_ci'])}", p, o["verdict"]))
        elif e.get("unpaired"):
            u = e["unpaired"]
            rows.append((model, "not paired", _acc_ci(u["a"]), _acc_ci(u["b"]),
                         f"{points(u['acc_diff'])} (no paired CI)", "–", u["verdict"]))
        else:
            rows.append((model, "none", "–", "–", "–", "–", "nothing to compare"))
    return rows


def format_table(summary: dict) -> str:
    """The terminal summary: what is compared, the table, what is only in one run, what differs."""
    rows = [TABLE_HEAD, *table_rows(summary)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_HEAD))]
    lines = [f"A: {summary['a']['path']}", f"B: {summary['b']['path']}", summary["test_set"]["sentence"], ""]
    for i, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    m = summary["matched"]
    lines.append("")
    if m["only_a"]:
        lines.append(f"only in A: {', '.join(m['only_a'])}")
    if m["only_b"]:
        lines.append(f"only in B: {', '.join(m['only_b'])}")
    for model, e in summary["models"].items():
        s = e["seeds"]
        if s["only_a"] or s["only_b"]:
            bits = [f"only in A {', '.join(map(str, s['only_a']))}" if s["only_a"] else "",
                    f"only in B {', '.join(map(str, s['only_b']))}" if s["only_b"] else ""]
            lines.append(f"{model} seeds: " + "; ".join(x for x in bits if x))
        for nc in e["not_compared"]:
            lines.append(f"{model} seed {nc['seed']} not compared ({nc['reason']})")
    lines.append(summary["differences_headline"][0].upper() + summary["differences_headline"][1:] + ".")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- HTML and PDF


def _environment():
    """The report's Jinja2 settings (autoescape, StrictUndefined), with the filters this page uses."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v, d=2: "–" if v is None else f"{100 * v:.{d}f}"
    env.filters["points"] = lambda v, d=2: points(v, d)
    env.filters["ci_points"] = lambda ci, d=2: ci_points(ci, d)
    env.filters["signed"] = lambda v, d=3: f"{v:+.{d}f}"
    env.filters["pvalue"] = p_cell
    env.filters["show"] = show
    env.filters["is_long"] = lambda v: len(show(v)) > 24
    return env


def render_html(summary: dict, *, title: str | None = None, summary_name: str = "<out>.summary.json") -> str:
    import markupsafe

    css = "\n".join((TEMPLATES_DIR / name).read_text() for name in STYLESHEETS)
    setting_groups: dict[str, list[dict]] = {}
    for r in summary["differences"]["settings"]:
        setting_groups.setdefault(r["what"], []).append(r)
    return _environment().get_template(TEMPLATE).render(
        css=markupsafe.Markup(css), s=summary, title=title or "Comparison of two benchmark runs",
        setting_groups=setting_groups, conf=f"{100 * CONFIDENCE:g} %", alpha=f"{ALPHA:g}",
        bench_version=__version__, summary_name=summary_name)


def write_compare(dir_a: Path, dir_b: Path, out: Path = Path("compare.pdf"), *, title: str | None = None,
                  log=None) -> tuple[dict, list[Path]]:
    """Compare two run directories; write <out> (.pdf: PDF + HTML; .html: HTML) and <out>.summary.json."""
    out = check_out(out)
    summary = compare(dir_a, dir_b)
    html = render_html(summary, title=title, summary_name=summary_path(out).name)
    pdf = None
    if out.suffix.lower() == ".pdf":
        from bench.render.report import render_pdf

        pdf = render_pdf(html)
    # Everything is rendered in memory first, so a failure leaves no partial file; each write is atomic.
    written = []
    if pdf is not None:
        art.write_bytes(out.with_suffix(".pdf"), pdf)
        written.append(out.with_suffix(".pdf"))
    art.write_bytes(out.with_suffix(".html"), html.encode())
    written.append(out.with_suffix(".html"))
    art.write_json(summary_path(out), summary)
    written.append(summary_path(out))
    return summary, written


__all__ = ["compare", "write_compare", "format_table", "render_html", "paired_seed", "same_test_set",
           "summary_path", "check_out"]
