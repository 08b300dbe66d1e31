"""The numbers of `bench compare RUN_A RUN_B`: two run directories side by side, as plain data.

What it answers: for the models (and seeds) both runs trained, is B more or less accurate than A,
and what differs between the two runs (protocol, data, device, precision, versions, commit, ...)?
The sentences are bench.render.compare's, written in the page's language.

- Differences are B minus A: bench.results.paired compares B first.
- Two runs are *paired* when they were evaluated on the same test set: the same test-split digest
  (``dataset.json`` ``digests.test``) and the same labels (``test_labels_sha256``). Then a model's two
  configurations are compared by the configuration-level test (bench.results.inference.compare_configurations,
  unit: the training run; seed-to-seed variation and test-set sampling both counted), whether or not the runs
  share seeds: the same seeds on both sides are paired seed by seed, disjoint seeds are not. Only that test
  calls a run more accurate (`overall`). Each seed both runs finished is also compared as a pair of trained
  networks (mid-p McNemar with its Tango score interval): what these two checkpoints do on these images.
  Degenerate seeds (bench.results.study.degenerate_seeds) are listed and left out of the test.
- Not paired (different test sets), no test is made: each run's accuracy is shown with its own
  interval (Wilson over the test images for one seed, t over seeds for several).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench import __version__
from bench.errors import BenchError
from bench.results import inference, stats
from bench.results.paired import ALPHA, CONFIDENCE, checkpoints, interval, t_interval
from bench.results.study import degenerate_seeds
from bench.rundir.checks import flatten
from bench.rundir.rundir import Artifacts, load_artifacts

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


def _value(v: Any) -> Any:
    """A JSON-able value as it is recorded (None stays None)."""
    return json.loads(json.dumps(v, default=str))


def complete_runs(artifacts: Artifacts, model: str) -> dict[int, Any]:
    return {r.seed: r for r in artifacts.of(model) if r.status == "complete"}


def test_set(artifacts: Artifacts) -> dict:
    ds = artifacts.dataset
    return {"digest": ds["digests"].get("test"), "labels_sha256": ds["test_labels_sha256"],
            "images": int(ds["shapes"]["test"][0])}


def test_set_differences(a: dict, b: dict) -> list[str]:
    """What makes two runs' test sets differ: [] (paired), "digests" and/or "labels"."""
    return [what for what, key in (("digests", "digest"), ("labels", "labels_sha256")) if a[key] != b[key]]


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


def paired_seed(y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, *, num_classes: int,
                seed: int | None = None) -> dict:
    """One seed's two trained networks on one test set, B - A: mid-p McNemar with its Tango score interval, and
    the macro-F1 difference with a paired bootstrap interval. A statement about these checkpoints only."""
    c = checkpoints(y, pred_b, pred_a, num_classes=num_classes)
    t = c["test"]
    return {"seed": seed, "n": t["n"], "accuracy_a": c["accuracy_second"], "accuracy_b": c["accuracy_first"],
            "macro_f1_a": c["f1_second"], "macro_f1_b": c["f1_first"], "acc_diff": t["diff"],
            "acc_diff_ci": c["acc_diff_ci"], "f1_diff": c["f1_diff"], "f1_diff_ci": c["f1_diff_ci"],
            "mcnemar": {"a_only": t["n01"], "b_only": t["n10"], "p_value": t["p_value"],
                        "exact_p_value": t["exact_p_value"], "test": "mcnemar_midp_tango_score"},
            "significant": c["significant"], "decision": {"first": "b", "second": "a"}.get(c["favours"], "none"),
            "unit": "checkpoint"}


def overall(rows: list[dict], labels: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, *, seeds_a: list[int],
            seeds_b: list[int]) -> dict:
    """The model's verdict, B - A: the configuration-level test over both runs' healthy seeds (paired by seed
    when both ran the same seeds), with the per-seed rows' counts beside it."""
    c = inference.compare_configurations(labels, pred_b, pred_a, seeds_a=seeds_b, seeds_b=seeds_a, alpha=ALPHA)
    flip = {"a": "b", "b": "a", "none": "none"}  # compare_configurations' first side is B
    configuration = {**{k: c[k] for k in ("difference", "low", "high", "p_value", "df", "se", "test_set_se", "paired",
                                          "reason", "method", "unit", "alpha", "n_test")},
                     "n_seeds_a": c["n_seeds_b"], "n_seeds_b": c["n_seeds_a"],
                     "between_seed_sd_a": c["between_seed_sd_b"], "between_seed_sd_b": c["between_seed_sd_a"],
                     "decision": flip[c["decision"]]}
    ci = interval(c["low"], c["high"], c["method"]) if c["low"] is not None else None
    return {"n_seeds": len(rows), "n_significant": sum(r["significant"] for r in rows),
            "n_b_better": sum(r["decision"] == "b" for r in rows), "n_a_better": sum(r["decision"] == "a" for r in rows),
            "mean_acc_diff": c["difference"], "acc_diff_ci": ci,
            "mean_f1_diff": float(np.mean([r["f1_diff"] for r in rows])) if rows else None,
            "f1_diff_ci": t_interval([r["f1_diff"] for r in rows], (-1.0, 1.0)) if len(rows) > 1 else None,
            "mean_accuracy_a": c["mean_b"], "mean_accuracy_b": c["mean_a"],
            "seeds_a": seeds_a, "seeds_b": seeds_b, "configuration": configuration,
            "decision": configuration["decision"]}


def accuracy_interval(runs: list) -> dict:
    """A run's accuracy over its complete seeds: Wilson for one seed, t over seeds for several."""
    accs, counts = [], []
    for r in runs:
        y, p = r.predictions["labels"], r.predictions["predicted"]
        accs.append(float((p == y).mean()))
        counts.append((int((p == y).sum()), len(y)))
    ci = interval(*stats.wilson_interval(*counts[0]), "wilson") if len(accs) == 1 else t_interval(accs, (0.0, 1.0))
    return {"seeds": [r.seed for r in runs], "accuracy": float(np.mean(accs)), "per_seed": accs, "ci": ci}


def unpaired_model(runs_a: list, runs_b: list) -> dict:
    """Two runs' accuracies on different test sets: each with its own interval, and whether those overlap."""
    a, b = accuracy_interval(runs_a), accuracy_interval(runs_b)
    overlap = a["ci"]["low"] <= b["ci"]["high"] and b["ci"]["low"] <= a["ci"]["high"]
    return {"a": a, "b": b, "acc_diff": b["accuracy"] - a["accuracy"], "intervals_overlap": overlap}


def run_record(artifacts: Artifacts, path: Path) -> dict:
    m, d = artifacts.manifest, artifacts.manifest["directory"]
    return {"path": str(path), "profile": (d.get("profile") or {}).get("name"), "device_type": d.get("device_type"),
            "device_name": m.get("device_name"), "precision": d.get("precision"),
            "torch_threads": d.get("torch_threads"), "git_commit": m.get("git_commit"),
            "executor": (m.get("executor") or {}).get("name"), "finished_at": m.get("finished_at"),
            "test_set": test_set(artifacts),
            "models": {model: [r.seed for r in artifacts.of(model)] for model in artifacts.models()},
            "complete": {model: sorted(complete_runs(artifacts, model)) for model in artifacts.models()},
            "titles": {model: artifacts.of(model)[0].config.get("title", model) for model in artifacts.models()}}


def model_comparison(model: str, a: Artifacts, b: Artifacts, *, paired_runs: bool, num_classes: int) -> dict:
    """One model of both runs: which seeds match, and their paired (or unpaired) comparison."""
    seeds_a = [r.seed for r in a.of(model)]
    seeds_b = [r.seed for r in b.of(model)]
    done_a, done_b = complete_runs(a, model), complete_runs(b, model)
    both = sorted(set(seeds_a) & set(seeds_b))
    entry = {"title": a.of(model)[0].config.get("title", model),
             "seeds": {"shared": both, "only_a": sorted(set(seeds_a) - set(seeds_b)),
                       "only_b": sorted(set(seeds_b) - set(seeds_a))},
             "paired": paired_runs, "not_compared": []}
    for seed in both:
        # Each side whose run of this seed did not complete: (side, status).
        missing = [[side, run.status] for side, runs in (("A", a), ("B", b))
                   for run in runs.of(model) if run.seed == seed and run.status != "complete"]
        if missing:
            entry["not_compared"].append({"seed": seed, "statuses": missing})
    if paired_runs:
        rows = []
        for seed in both:
            if seed not in done_a or seed not in done_b:
                continue
            pa, pb = done_a[seed].predictions, done_b[seed].predictions
            if not np.array_equal(pa["labels"], pb["labels"]):  # guarded by the label digest; never expected
                entry["not_compared"].append({"seed": seed, "statuses": [], "labels_differ": True})
                continue
            rows.append(paired_seed(pa["labels"], pa["predicted"], pb["predicted"], num_classes=num_classes,
                                    seed=seed))
        entry["per_seed"] = rows
        bad = {side: degenerate_seeds(list(done.values()), num_classes) for side, done in (("a", done_a), ("b", done_b))}
        entry["degenerate"] = bad
        healthy_a = [r for s, r in sorted(done_a.items()) if s not in {d["seed"] for d in bad["a"]}]
        healthy_b = [r for s, r in sorted(done_b.items()) if s not in {d["seed"] for d in bad["b"]}]
        entry["overall"] = overall(
            rows, healthy_a[0].predictions["labels"], np.stack([r.predictions["predicted"] for r in healthy_a]),
            np.stack([r.predictions["predicted"] for r in healthy_b]), seeds_a=[r.seed for r in healthy_a],
            seeds_b=[r.seed for r in healthy_b]) if healthy_a and healthy_b else None
    else:
        entry["unpaired"] = unpaired_model(list(done_a.values()), list(done_b.values())) if done_a and done_b \
            else None
        entry["missing_side"] = None if done_a and done_b else ("A" if not done_a else "B")
    return entry


def compare(dir_a: Path, dir_b: Path) -> dict:
    """Every number of the comparison of two run directories, as plain data (bench.render.compare adds the words)."""
    return compare_artifacts(load_artifacts(dir_a), load_artifacts(dir_b), dir_a, dir_b)


def compare_artifacts(a: Artifacts, b: Artifacts, dir_a: Path, dir_b: Path) -> dict:
    """compare() of two loaded runs; `dir_a` and `dir_b` are the paths they are named by."""
    models_a, models_b = a.models(), b.models()
    shared = [m for m in models_a if m in models_b]
    if not shared:
        raise BenchError(f"{dir_a} and {dir_b} share no model ({', '.join(models_a)} vs {', '.join(models_b)}); "
                         "nothing to compare")
    ts_a, ts_b = test_set(a), test_set(b)
    differ = test_set_differences(ts_a, ts_b)
    classes_differ = not differ and a.dataset["classes"] != b.dataset["classes"]
    paired_runs = not differ and not classes_differ
    out: dict = {
        "kind": "bench compare", "bench_version": __version__,
        "a": run_record(a, Path(dir_a)), "b": run_record(b, Path(dir_b)),
        "paired": paired_runs,
        "test_set": {"same": paired_runs, "a": ts_a, "b": ts_b, "differ": differ, "classes_differ": classes_differ},
        "alpha": ALPHA, "confidence": CONFIDENCE, "bootstrap_resamples": stats.resamples_for(ts_a["images"]),
        "matched": {"models": shared, "only_a": [m for m in models_a if m not in models_b],
                    "only_b": [m for m in models_b if m not in models_a]},
        "models": {m: model_comparison(m, a, b, paired_runs=paired_runs, num_classes=len(a.dataset["classes"]))
                   for m in shared},
    }
    settings = setting_rows(a, b)
    out["differences"] = {
        "settings": [{k: r[k] for k in ("what", "key", "a", "b")} for r in settings if not r["same"]],
        "same_settings": [r["key"] for r in settings if r["same"]],
        "protocol": {m: protocol_rows(a.of(m)[0], b.of(m)[0]) for m in shared},
    }
    return out
