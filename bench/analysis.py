"""From artifacts to numbers: per-seed statistics, intervals, tests, rankings, and how a run departs
from the study's protocol. Imported by report.py; everything here is plain data (summary.json).

Choices, so that every sentence of the report can be checked against these numbers:

- Intervals are 95 % and each one names its method: for one seed, a Wilson score interval over
  the test images (accuracy) and a percentile bootstrap over the test images (macro P/R/F1); for
  several seeds, a Student t interval over the seeds' values (n - 1 degrees of freedom).
- Confusion matrices, confused pairs and supports describe one test set: the first complete
  seed's predictions, never counts summed over seeds.
- Calibration (reliability diagram, ECE, mean confidence) pools the test predictions of every
  complete seed of a model; with one seed that is the seed itself.
- A pairwise difference at one seed is *established* when the exact McNemar test rejects equal
  error rates at ALPHA and the paired bootstrap interval of the accuracy difference excludes 0 on
  the same side; a verdict never says "better" otherwise. Across seeds a model is ranked above
  another when the difference is established, in its favour, in more than half of the paired seeds.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import stats as sps

from . import stats
from .metrics import confusion, per_class_table, summary_metrics
from .protocol import REFERENCE, STUDY, get_profile, spec_for

ALPHA = 0.05
CONFIDENCE = stats.CONFIDENCE

METHODS = {
    "wilson": "Wilson score interval over test images",
    "bootstrap": (f"percentile bootstrap over test images, {stats.N_RESAMPLES} resamples, "
                  f"seed {stats.BOOTSTRAP_SEED}"),
    "paired_bootstrap": (f"paired percentile bootstrap over test images, {stats.N_RESAMPLES} resamples, "
                         f"seed {stats.BOOTSTRAP_SEED}"),
    "t_seeds": "Student t interval over seeds (n - 1 degrees of freedom, clipped to the metric's range)",
    "mcnemar": "exact McNemar test (two-sided binomial test on the discordant pairs)",
    "reference_diff": "this run's accuracy interval minus the reference study's published accuracy",
}

# The built-in protocol beyond the TrainSpecs: the defaults of `bench all` (see README, Command line).
STUDY_SIZES = {"train": 45_000, "val": 5_000, "test": 10_000}
STUDY_PIPELINE = "fast"
STUDY_MODEL_KWARGS = {"vgg16": {"image_size": 32, "frozen_blocks": 3}}
PRETRAINED_MODELS = ("vgg16",)
# Spec fields compared one by one (phases and epochs get their own sentence; "note" and "model" are not protocol).
SPEC_FIELDS = {"optimizer": "optimizer", "weight_decay": "weight decay", "momentum": "SGD momentum",
               "batch_size": "batch size", "backbone_lr_scale": "learning-rate factor of the tuned pretrained layers",
               "augment": "training augmentation"}
OPTIMIZER_NAMES = {"sgd": "SGD", "adam": "Adam"}


def interval(low: float, high: float, method: str) -> dict:
    return {"low": float(low), "high": float(high), "method": METHODS[method], "confidence": CONFIDENCE}


def t_interval(values: list[float], bounds: tuple[float, float] = (-math.inf, math.inf)) -> dict:
    """Student t interval of the mean of `values` (at least two), clipped to the metric's range `bounds`."""
    arr = np.asarray(values, dtype=float)
    n = len(arr)
    mean, sd = float(arr.mean()), float(arr.std(ddof=1))
    half = float(sps.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return interval(max(mean - half, bounds[0]), min(mean + half, bounds[1]), "t_seeds")


# ----------------------------------------------------------------------------- departures


def _sizes(config: dict, dataset: dict | None) -> dict | None:
    sizes = config.get("compute", {}).get("sizes")
    if sizes:
        return {k: int(sizes[k]) for k in ("train", "val", "test") if k in sizes}
    shapes = (dataset or {}).get("shapes", {})
    if all(shapes.get(k) for k in ("train", "val", "test")):
        return {k: int(shapes[k][0]) for k in ("train", "val", "test")}
    return None


def _phases_text(phases: list[dict]) -> str:
    return ", ".join(f"{p['epochs']} at {p['lr']:g}" for p in phases)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _show(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return OPTIMIZER_NAMES.get(value, str(value))


def study_kwargs(model: str) -> dict:
    return dict(STUDY_MODEL_KWARGS.get(model, {}))


def departures(config: dict, dataset: dict | None = None) -> list[dict]:
    """How one model's run (its config.json) departs from the built-in study protocol.

    Each record: {"what", "model", "study", "run", "text"}; `text` is a sentence fragment without
    the model's name (`run_departures` adds it where the departure concerns only some models).
    """
    model = config.get("model", "?")
    compute = config.get("compute", {})
    out = []

    def add(what, study, run, text):
        out.append({"what": what, "model": model, "study": study, "run": run, "text": text})

    profile = (compute.get("profile") or {}).get("name")
    if profile and profile != "full":
        add("profile", "full", profile, f"the {profile} profile, not the full study")
    sizes = _sizes(config, dataset)
    if sizes and sizes != STUDY_SIZES:
        add("data_sizes", STUDY_SIZES, sizes,
            f"{sizes['train']:,} training / {sizes['val']:,} validation / {sizes['test']:,} test images instead of "
            f"{STUDY_SIZES['train']:,} / {STUDY_SIZES['val']:,} / {STUDY_SIZES['test']:,}")
    pipeline = compute.get("pipeline")
    if pipeline and pipeline != STUDY_PIPELINE:
        add("pipeline", STUDY_PIPELINE, pipeline, f"the {pipeline} input pipeline instead of the default {STUDY_PIPELINE} one")
    if model not in STUDY:
        # A plugged-in model has no study protocol to depart from, and no reference result to be compared with.
        return out
    study = spec_for(model, get_profile("full")).to_dict()
    spec = compute.get("spec", {})
    phases = [{"lr": float(p["lr"]), "epochs": int(p["epochs"])} for p in spec.get("phases", [])]
    if phases != study["phases"]:
        epochs = sum(p["epochs"] for p in phases)
        add("phases", study["phases"], phases,
            f"{_plural(epochs, 'epoch')} in learning-rate phases of {_phases_text(phases)} instead of the study's "
            f"{study['epochs']} ({_phases_text(study['phases'])})")
    for key, label in SPEC_FIELDS.items():
        if key in spec and spec[key] != study[key]:
            add(key, study[key], spec[key], f"{label} {_show(spec[key])} instead of {_show(study[key])}")
    kwargs = compute.get("model_kwargs") or {}
    for key, default in study_kwargs(model).items():
        value = kwargs.get(key, default)
        if value == default:
            continue
        if key == "image_size":
            add(key, default, value, f"inputs upsampled to {value}×{value} pixels instead of {default}×{default}")
        elif key == "frozen_blocks":
            add(key, default, value, f"{_plural(value, 'frozen convolutional block')} instead of {default}")
        else:
            add(key, default, value, f"{key} {value} instead of {default}")
    source = compute.get("weights_source") or ""
    if model in PRETRAINED_MODELS and source.startswith("none"):
        add("pretraining", "pretrained", "none", "no pretrained weights (random initialisation) instead of ImageNet's")
    return out


def run_departures(configs: dict[str, dict], titles: dict[str, str], dataset: dict | None = None) -> dict:
    """The departures of every model of a run, merged: one record per distinct departure, naming its models.

    Returns {"items": [...], "headline": str | None, "like_for_like": bool}.
    """
    merged: dict[tuple, dict] = {}
    for model, config in configs.items():
        for d in departures(config, dataset):
            key = (d["what"], d["text"])
            if key not in merged:
                merged[key] = {k: v for k, v in d.items() if k != "model"} | {"models": []}
            merged[key]["models"].append(model)
    items = []
    for d in merged.values():
        everyone = len(d["models"]) == len(configs) and len(configs) > 1 and d["what"] in (
            "profile", "data_sizes", "pipeline")
        prefix = "" if everyone else ", ".join(titles.get(m, m) for m in d["models"]) + ": "
        text = prefix + d["text"]
        items.append(d | {"all_models": everyone, "sentence": text[0].upper() + text[1:] + "."})
    order = ["profile", "data_sizes", "pipeline", "phases"]
    items.sort(key=lambda d: order.index(d["what"]) if d["what"] in order else len(order))
    return {"items": items, "headline": _departure_headline(items, configs) if items else None,
            "like_for_like": not items}


def _departure_headline(items: list[dict], configs: dict[str, dict]) -> str:
    whats = {d["what"] for d in items}
    parts = []
    profile = next((d["run"] for d in items if d["what"] == "profile"), None)
    if profile:
        parts.append(f"{profile.capitalize()} profile")
    sizes = next((d["run"] for d in items if d["what"] == "data_sizes"), None)
    if sizes:
        parts.append(f"{sizes['train']:,} training images")
    if "phases" in whats:
        phases = [p for c in configs.values() for p in c["compute"]["spec"]["phases"]]
        per_phase = {int(p["epochs"]) for p in phases}
        totals = sorted({sum(int(p["epochs"]) for p in c["compute"]["spec"]["phases"]) for c in configs.values()})
        profile_rule = any((c["compute"].get("profile") or {}).get("epochs_per_phase") for c in configs.values())
        if profile_rule and len(per_phase) == 1:
            parts.append(f"{_plural(per_phase.pop(), 'epoch')} per learning-rate phase")
        else:
            span = f"{totals[0]}" if len(totals) == 1 else f"{totals[0]}–{totals[-1]}"
            parts.append(f"{span} epoch{'' if span == '1' else 's'} per model")
    if whats - {"profile", "data_sizes", "phases"}:
        parts.append("other settings listed below" if parts else "settings listed below")
    if profile:
        lead = parts[0] + (": " + ", ".join(parts[1:]) if len(parts) > 1 else "")
    else:
        lead = "Changed protocol: " + ", ".join(parts)
    return f"{lead}; not comparable like-for-like with the reference study"


# ----------------------------------------------------------------------------- per model


def _seed_stats(run, classes: list[str]) -> dict:
    y, logits, pred = run.predictions["labels"], run.predictions["logits"], run.predictions["predicted"]
    m = summary_metrics(y, logits, num_classes=len(classes))
    correct = int((pred == y).sum())
    m["accuracy_ci"] = interval(*stats.wilson_interval(correct, len(y)), "wilson")
    macro = stats.bootstrap_macro_intervals(y, pred, num_classes=len(classes))
    m["macro_ci"] = {k: interval(*v, "bootstrap") for k, v in macro.items()}
    m["calibration"] = stats.calibration(y, logits)
    m["train_seconds"] = (run.metrics or {}).get("train_seconds")
    m["seed"] = run.seed
    return m


def _aggregate(per_seed: list[dict]) -> dict:
    """Mean, std, min, max over seeds, each with a 95 % interval that names its method."""
    agg = {}
    for k in ("accuracy", "loss", "macro_precision", "macro_recall", "macro_f1"):
        agg[k] = stats.describe_seeds([s[k] for s in per_seed])
        if len(per_seed) > 1:
            agg[k]["ci"] = t_interval([s[k] for s in per_seed], (0.0, math.inf) if k == "loss" else (0.0, 1.0))
        elif k == "accuracy":
            agg[k]["ci"] = per_seed[0]["accuracy_ci"]
        elif k.startswith("macro_"):
            agg[k]["ci"] = per_seed[0]["macro_ci"][k.removeprefix("macro_")]
        else:
            agg[k]["ci"] = None  # one seed: no interval for the loss
    agg["train_seconds"] = stats.describe_seeds([s["train_seconds"] or 0.0 for s in per_seed])
    return agg


def _model_entry(model: str, runs: list, classes: list[str], title: str, reference: dict | None = None) -> dict:
    done = [r for r in runs if r.status == "complete"]
    entry = {"title": title, "seeds": [r.seed for r in runs],
             "status": {str(r.seed): r.status for r in runs}, "complete_seeds": [r.seed for r in done],
             "parameters": runs[0].config.get("parameters"), "reference": reference}
    if not done:
        return entry
    per_seed = [_seed_stats(r, classes) for r in done]
    entry["per_seed"] = per_seed
    entry["aggregate"] = _aggregate(per_seed)
    first = done[0]
    y0, p0 = first.predictions["labels"], first.predictions["predicted"]
    reports = [per_class_table(r.predictions["labels"], r.predictions["predicted"], classes) for r in done]
    entry["per_class"] = {
        row: {**{k: stats.describe_seeds([rep[row][k] for rep in reports]) for k in ("precision", "recall", "f1-score")},
              # The test set's counts: identical for every seed.
              "support": int(reports[0][row]["support"])}
        for row in [*classes, "macro avg", "weighted avg"]}
    cm = confusion(y0, p0, len(classes))
    basis = (f"seed {first.seed}" if len(done) == 1 else
             f"seed {first.seed} (the first of {len(done)} complete seeds; counts of one test set, not summed over seeds)")
    entry["confusion"] = {"seed": first.seed, "counts": cm.tolist(), "total": int(cm.sum()), "basis": basis}
    entry["top_confusions"] = stats.top_confusions(cm, classes)
    labels = np.concatenate([r.predictions["labels"] for r in done])
    logits = np.concatenate([r.predictions["logits"] for r in done])
    entry["calibration"] = {**stats.calibration(labels, logits),
                            "overall_accuracy": float((logits.argmax(1) == labels).mean()),
                            "basis": (f"seed {first.seed}" if len(done) == 1 else
                                      f"test predictions of all {len(done)} complete seeds pooled")}
    if entry["reference"]:
        acc = entry["aggregate"]["accuracy"]
        ref = entry["reference"]["accuracy"]
        entry["reference_diff"] = {"accuracy": acc["mean"] - ref, "loss": entry["aggregate"]["loss"]["mean"]
                                   - entry["reference"]["loss"]}
        entry["reference_diff"]["accuracy_ci"] = interval(acc["ci"]["low"] - ref, acc["ci"]["high"] - ref,
                                                          "reference_diff")
    return entry


# ----------------------------------------------------------------------------- pairs and ranking


def _decision(p_value: float, ci: tuple[float, float]) -> str:
    """'a', 'b' or 'none': a side wins only when the test and the interval agree."""
    if p_value >= ALPHA:
        return "none"
    if ci[0] > 0:
        return "a"
    if ci[1] < 0:
        return "b"
    return "none"


def _verdict(a: str, b: str, runs_a: dict, runs_b: dict, titles: dict, num_classes: int = 10) -> dict:
    """Exact McNemar test and paired bootstrap intervals for every seed both models share (A: higher mean)."""
    per_seed = []
    for seed in sorted(set(runs_a) & set(runs_b)):
        pa, pb = runs_a[seed].predictions, runs_b[seed].predictions
        if not np.array_equal(pa["labels"], pb["labels"]):
            continue  # different test sets (another profile): not paired
        y = pa["labels"]
        test = stats.mcnemar_exact(pa["predicted"] == y, pb["predicted"] == y)
        diffs = stats.paired_difference_intervals(y, pa["predicted"], pb["predicted"], num_classes=num_classes)
        f1 = (stats.macro_scores(y, pa["predicted"], num_classes=num_classes)["f1"]
              - stats.macro_scores(y, pb["predicted"], num_classes=num_classes)["f1"])
        decision = _decision(test["p_value"], diffs["accuracy"])
        significant = test["p_value"] < ALPHA
        excludes_zero = diffs["accuracy"][0] > 0 or diffs["accuracy"][1] < 0
        if decision != "none":
            verdict = f"{titles[a] if decision == 'a' else titles[b]} better"
        elif significant:
            verdict = "not established: the interval includes 0"
        elif excludes_zero:
            verdict = f"not established: McNemar p ≥ {ALPHA:g}"
        else:
            verdict = "no significant difference"
        per_seed.append({
            "seed": seed, **test, "test": METHODS["mcnemar"],
            "acc_diff": float((pa["predicted"] == y).mean() - (pb["predicted"] == y).mean()),
            "acc_diff_ci": interval(*diffs["accuracy"], "paired_bootstrap"),
            "f1_diff": float(f1), "f1_diff_ci": interval(*diffs["f1"], "paired_bootstrap"),
            "significant": significant, "decision": decision, "verdict": verdict,
            # The test rejects but the interval still holds 0 (or the reverse): reported, never called a win.
            "test_and_interval_agree": significant == excludes_zero})
    n = len(per_seed)
    n_a = sum(s["decision"] == "a" for s in per_seed)
    n_b = sum(s["decision"] == "b" for s in per_seed)
    significant = bool(n) and n_a * 2 > n
    if not n:
        verdict = "not paired (different test sets)"
    elif significant:
        verdict = f"{titles[a]} better"
    elif n_b * 2 > n:
        verdict = f"{titles[b]} better in most seeds, although {titles[a]} has the higher mean accuracy: ranked as tied"
    else:
        verdict = "no established difference"
    if n > 1:
        verdict += f" ({n_a if not n_b * 2 > n else n_b} of {n} seeds)"
    return {"a": a, "b": b, "a_title": titles[a], "b_title": titles[b], "seeds": per_seed,
            "n_seeds": n, "n_significant": sum(s["significant"] for s in per_seed), "n_a_better": n_a,
            "n_b_better": n_b, "significant": significant, "verdict": verdict,
            "mean_acc_diff": float(np.mean([s["acc_diff"] for s in per_seed])) if per_seed else None}


def _ranking(ranked: list[str], pair: dict, titles: dict, models: dict) -> list[dict]:
    # A model joins the rank of the best model of the current group when the difference to it is not
    # established; comparing with the group's leader (not the neighbour) keeps ties from chaining
    # across models that do differ.
    ranking, rank, leader = [], 0, None
    for i, m in enumerate(ranked):
        tied = leader is not None and not pair[(leader, m)]["significant"]
        if not tied:
            rank, leader = i + 1, m
        other = leader if tied else (ranked[i - 1] if i else None)
        ranking.append({"model": m, "title": titles[m], "rank": rank, "tied_with_previous": tied,
                        "tied_with": titles[leader] if tied else None,
                        "compared_with": other, "compared_with_title": titles[other] if other else None,
                        "accuracy": models[m]["aggregate"]["accuracy"]["mean"]})
    return ranking


def analyse(artifacts) -> dict:
    """Every number of the report, as plain data (also saved as summary.json)."""
    classes = artifacts.dataset["classes"]
    out = {"classes": classes, "models": {}, "pairs": [], "alpha": ALPHA, "confidence": CONFIDENCE,
           "methods": dict(METHODS),
           "bootstrap": {"resamples": stats.N_RESAMPLES, "seed": stats.BOOTSTRAP_SEED, "method": "percentile",
                         "description": METHODS["paired_bootstrap"]},
           "test": METHODS["mcnemar"],
           "decision_rule": (f"a difference at one seed is established when the exact McNemar p < {ALPHA:g} and the "
                             "paired bootstrap interval of the accuracy difference excludes 0 on the same side; a "
                             "model ranks above another when that holds in more than half of the paired seeds")}
    titles, finished, configs = {}, {}, {}
    # Reference numbers: the study's, plus those a protocol file gave (recorded in the manifest by training).
    references = {**REFERENCE, **(((artifacts.manifest.get("protocol") or {}).get("reference")) or {})}
    for model in artifacts.models():
        runs = artifacts.of(model)
        titles[model] = runs[0].config.get("title", model)
        configs[model] = runs[0].config
        finished[model] = {r.seed: r for r in runs if r.status == "complete"}
        out["models"][model] = _model_entry(model, runs, classes, titles[model], references.get(model))
    for model, entry in out["models"].items():
        n = len(entry["complete_seeds"])
        entry["interval_method"] = (None if not n else METHODS["t_seeds"] if n > 1 else
                                    {"accuracy": METHODS["wilson"], "macro": METHODS["bootstrap"]})

    dep = run_departures(configs, titles, artifacts.dataset)
    out["departures"] = dep["items"]
    out["departures_headline"] = dep["headline"]
    out["like_for_like"] = dep["like_for_like"]

    ranked = sorted((m for m in out["models"] if "aggregate" in out["models"][m]),
                    key=lambda m: -out["models"][m]["aggregate"]["accuracy"]["mean"])
    for a, b in itertools.combinations(ranked, 2):
        out["pairs"].append(_verdict(a, b, finished[a], finished[b], titles, len(classes)))
    pair = {(p["a"], p["b"]): p for p in out["pairs"]}
    out["ranking"] = _ranking(ranked, pair, titles, out["models"])
    if len(ranked) >= 2:
        best, second = ranked[0], ranked[1]
        out["headline"] = {"best": best, "best_title": titles[best], "second": second, "second_title": titles[second],
                           "margin": out["ranking"][0]["accuracy"] - out["ranking"][1]["accuracy"],
                           "verdict": pair[(best, second)]}
    elif ranked:
        out["headline"] = {"best": ranked[0], "best_title": titles[ranked[0]], "second": None}
    return out
