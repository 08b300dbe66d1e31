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

import copy
import itertools
import math

import numpy as np
from scipy import stats as sps

from bench.results import stats
from bench.render.i18n import N_, _, current, ngettext, pgettext
from bench.results.metrics import confusion, per_class_table, summary_metrics
from bench.protocol import REFERENCE, STUDY, get_profile, spec_for

ALPHA = 0.05
CONFIDENCE = stats.CONFIDENCE

# Every sentence below is an English message of the catalogue (bench/i18n.py): summary.json keeps
# the English text, and `localise` rewrites it in the report's language.
METHOD_TEXTS = {
    "wilson": N_("Wilson score interval over test images"),
    "bootstrap": N_("percentile bootstrap over test images, %(resamples)s resamples, seed %(seed)s"),
    "paired_bootstrap": N_("paired percentile bootstrap over test images, %(resamples)s resamples, seed %(seed)s"),
    "t_seeds": N_("Student t interval over seeds (n - %(one)s degrees of freedom, clipped to the metric's range)"),
    "mcnemar": N_("exact McNemar test (two-sided binomial test on the discordant pairs)"),
    "reference_diff": N_("this run's accuracy interval minus the reference study's published accuracy"),
}


def method_text(key: str) -> str:
    """How an interval or test was computed, in the active language."""
    lang = current()
    return lang.gettext(METHOD_TEXTS[key]) % {"resamples": lang.integer(stats.N_RESAMPLES),
                                               "seed": lang.integer(stats.BOOTSTRAP_SEED), "one": lang.integer(1)}


METHODS = {key: method_text(key) for key in METHOD_TEXTS}  # English: summary.json and bench compare

# The built-in protocol beyond the TrainSpecs: the defaults of `bench all` (see README, Command line).
STUDY_SIZES = {"train": 45_000, "val": 5_000, "test": 10_000}
STUDY_PIPELINE = "fast"
STUDY_MODEL_KWARGS = {"vgg16": {"image_size": 32, "frozen_blocks": 3}}
PRETRAINED_MODELS = ("vgg16",)
# Spec fields compared one by one (phases and epochs get their own sentence; "note" and "model" are not protocol).
SPEC_FIELDS = {"optimizer": N_("optimizer"), "weight_decay": N_("weight decay"), "momentum": N_("SGD momentum"),
               "batch_size": N_("batch size"),
               "backbone_lr_scale": N_("learning-rate factor of the tuned pretrained layers"),
               "augment": N_("training augmentation")}
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
    lang = current()
    return pgettext("list separator", ", ").join(
        _("%(epochs)s at %(lr)s") % {"epochs": lang.integer(p["epochs"]), "lr": lang.plain(float(p["lr"]))}
        for p in phases)


def _show(value) -> str:
    lang = current()
    if isinstance(value, bool):
        return _("on") if value else _("off")
    if isinstance(value, (int, float)):
        return lang.plain(value)
    return lang.isolate(OPTIMIZER_NAMES.get(value, str(value)))


def _count(n: int) -> str:
    return current().format(n, ",")


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def study_kwargs(model: str) -> dict:
    return dict(STUDY_MODEL_KWARGS.get(model, {}))


def departures(config: dict, dataset: dict | None = None) -> list[dict]:
    """How one model's run (its config.json) departs from the built-in study protocol.

    Each record: {"what", "model", "study", "run", "text"}; `text` is a sentence fragment without
    the model's name (`run_departures` adds it where the departure concerns only some models),
    in the active language.
    """
    lang = current()
    model = config.get("model", "?")
    compute = config.get("compute", {})
    out = []

    def add(what, study, run, text):
        out.append({"what": what, "model": model, "study": study, "run": run, "text": text})

    profile = (compute.get("profile") or {}).get("name")
    if profile and profile != "full":
        add("profile", "full", profile, _("the %(profile)s profile, not the full study") % {
            "profile": lang.isolate(profile)})
    sizes = _sizes(config, dataset)
    if sizes and sizes != STUDY_SIZES:
        add("data_sizes", STUDY_SIZES, sizes,
            _("%(train)s training / %(val)s validation / %(test)s test images instead of "
              "%(study_train)s / %(study_val)s / %(study_test)s") % {
                "train": _count(sizes["train"]), "val": _count(sizes["val"]), "test": _count(sizes["test"]),
                "study_train": _count(STUDY_SIZES["train"]), "study_val": _count(STUDY_SIZES["val"]),
                "study_test": _count(STUDY_SIZES["test"])})
    pipeline = compute.get("pipeline")
    if pipeline and pipeline != STUDY_PIPELINE:
        add("pipeline", STUDY_PIPELINE, pipeline,
            _("the %(pipeline)s input pipeline instead of the default %(default)s one") % {
                "pipeline": lang.isolate(pipeline), "default": lang.isolate(STUDY_PIPELINE)})
    if model not in STUDY:
        # A plugged-in model has no study protocol to depart from, and no reference result to be compared with.
        return out
    study = spec_for(model, get_profile("full")).to_dict()
    spec = compute.get("spec", {})
    phases = [{"lr": float(p["lr"]), "epochs": int(p["epochs"])} for p in spec.get("phases", [])]
    if phases != study["phases"]:
        epochs = sum(p["epochs"] for p in phases)
        add("phases", study["phases"], phases,
            ngettext("%(n)s epoch in learning-rate phases of %(phases)s instead of the study's %(study)s "
                     "(%(study_phases)s)",
                     "%(n)s epochs in learning-rate phases of %(phases)s instead of the study's %(study)s "
                     "(%(study_phases)s)", epochs) % {
                "n": _count(epochs), "phases": _phases_text(phases), "study": lang.integer(study["epochs"]),
                "study_phases": _phases_text(study["phases"])})
    for key, label in SPEC_FIELDS.items():
        if key in spec and spec[key] != study[key]:
            add(key, study[key], spec[key], _("%(setting)s %(run)s instead of %(study)s") % {
                "setting": _(label), "run": _show(spec[key]), "study": _show(study[key])})
    kwargs = compute.get("model_kwargs") or {}
    for key, default in study_kwargs(model).items():
        value = kwargs.get(key, default)
        if value == default:
            continue
        if key == "image_size":
            add(key, default, value, _("inputs upsampled to %(size)s pixels instead of %(study)s") % {
                "size": _square(value), "study": _square(default)})
        elif key == "frozen_blocks":
            add(key, default, value, ngettext("%(n)s frozen convolutional block instead of %(study)s",
                                              "%(n)s frozen convolutional blocks instead of %(study)s", value) % {
                "n": _count(value), "study": lang.integer(default)})
        else:
            add(key, default, value, _("%(setting)s %(run)s instead of %(study)s") % {
                "setting": lang.ltr(key), "run": _show(value), "study": _show(default)})
    source = compute.get("weights_source") or ""
    if model in PRETRAINED_MODELS and source.startswith("none"):
        add("pretraining", "pretrained", "none",
            _("no pretrained weights (random initialisation) instead of ImageNet's"))
    return out


def _square(side: int) -> str:
    """'64×64' in the active language's digits."""
    return current().digits_only(f"{side}×{side}")


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
        prefix = "" if everyone else _("%(models)s: ") % {"models": pgettext("list separator", ", ").join(
            current().isolate(titles.get(m, m)) for m in d["models"])}
        text = prefix + d["text"]
        items.append(d | {"all_models": everyone, "sentence": _("%(sentence)s.") % {"sentence": capitalised(text)}})
    order = ["profile", "data_sizes", "pipeline", "phases"]
    items.sort(key=lambda d: order.index(d["what"]) if d["what"] in order else len(order))
    return {"items": items, "headline": _departure_headline(items, configs) if items else None,
            "like_for_like": not items}


def _departure_headline(items: list[dict], configs: dict[str, dict]) -> str:
    lang = current()
    sep = pgettext("list separator", ", ")
    whats = {d["what"] for d in items}
    parts = []
    profile = next((d["run"] for d in items if d["what"] == "profile"), None)
    if profile:
        parts.append(capitalised(_("%(profile)s profile") % {"profile": lang.isolate(profile)}))
    sizes = next((d["run"] for d in items if d["what"] == "data_sizes"), None)
    if sizes:
        parts.append(ngettext("%(n)s training image", "%(n)s training images", sizes["train"]) % {
            "n": _count(sizes["train"])})
    if "phases" in whats:
        phases = [p for c in configs.values() for p in c["compute"]["spec"]["phases"]]
        per_phase = {int(p["epochs"]) for p in phases}
        totals = sorted({sum(int(p["epochs"]) for p in c["compute"]["spec"]["phases"]) for c in configs.values()})
        profile_rule = any((c["compute"].get("profile") or {}).get("epochs_per_phase") for c in configs.values())
        if profile_rule and len(per_phase) == 1:
            n = per_phase.pop()
            parts.append(ngettext("%(n)s epoch per learning-rate phase", "%(n)s epochs per learning-rate phase", n)
                         % {"n": _count(n)})
        else:
            span = lang.integer(totals[0]) if len(totals) == 1 else \
                f"{lang.integer(totals[0])}–{lang.integer(totals[-1])}"
            n = totals[0] if len(totals) == 1 else totals[-1]
            parts.append(ngettext("%(n)s epoch per model", "%(n)s epochs per model", n) % {"n": span})
    if whats - {"profile", "data_sizes", "phases"}:
        parts.append(_("other settings listed below") if parts else _("settings listed below"))
    if profile:
        lead = parts[0] if len(parts) == 1 else _("%(first)s: %(rest)s") % {"first": parts[0],
                                                                          "rest": sep.join(parts[1:])}
    else:
        lead = _("Changed protocol: %(changes)s") % {"changes": sep.join(parts)}
    return _("%(lead)s; not comparable like-for-like with the reference study") % {"lead": lead}


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
    entry["confusion"] = {"seed": first.seed, "counts": cm.tolist(), "total": int(cm.sum()),
                          "basis": confusion_basis(first.seed, len(done))}
    entry["top_confusions"] = stats.top_confusions(cm, classes)
    labels = np.concatenate([r.predictions["labels"] for r in done])
    logits = np.concatenate([r.predictions["logits"] for r in done])
    entry["calibration"] = {**stats.calibration(labels, logits),
                            "overall_accuracy": float((logits.argmax(1) == labels).mean()),
                            "basis": calibration_basis(first.seed, len(done))}
    if entry["reference"]:
        acc = entry["aggregate"]["accuracy"]
        ref = entry["reference"]["accuracy"]
        entry["reference_diff"] = {"accuracy": acc["mean"] - ref, "loss": entry["aggregate"]["loss"]["mean"]
                                   - entry["reference"]["loss"]}
        entry["reference_diff"]["accuracy_ci"] = interval(acc["ci"]["low"] - ref, acc["ci"]["high"] - ref,
                                                          "reference_diff")
    return entry


def confusion_basis(seed: int, n_complete: int) -> str:
    """Which predictions a model's confusion matrix counts."""
    lang = current()
    if n_complete == 1:
        return _("seed %(seed)s") % {"seed": lang.integer(seed)}
    return _("seed %(seed)s (the first of %(n)s complete seeds; counts of one test set, not summed over seeds)") % {
        "seed": lang.integer(seed), "n": lang.integer(n_complete)}


def calibration_basis(seed: int, n_complete: int) -> str:
    """Which predictions a model's calibration pools."""
    lang = current()
    if n_complete == 1:
        return _("seed %(seed)s") % {"seed": lang.integer(seed)}
    return _("test predictions of all %(n)s complete seeds pooled") % {"n": lang.integer(n_complete)}


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


def seed_verdict(decision: str, significant: bool, excludes_zero: bool, a_title: str, b_title: str) -> str:
    """The verdict on one seed's difference: a better model only when the test and the interval agree."""
    lang = current()
    if decision != "none":
        return _("%(model)s better") % {"model": lang.isolate(a_title if decision == "a" else b_title)}
    if significant:
        return _("not established: the interval includes 0")
    if excludes_zero:
        return _("not established: McNemar p ≥ %(alpha)s") % {"alpha": lang.plain(ALPHA)}
    return _("no significant difference")


def pair_verdict(n: int, n_a: int, n_b: int, a_title: str, b_title: str) -> str:
    """The verdict over the seeds both models share (A: the higher mean accuracy)."""
    lang = current()
    a_title, b_title = lang.isolate(a_title), lang.isolate(b_title)
    if not n:
        return _("not paired (different test sets)")
    if n_a * 2 > n:
        verdict = _("%(model)s better") % {"model": a_title}
    elif n_b * 2 > n:
        verdict = _("%(b)s better in most seeds, although %(a)s has the higher mean accuracy: ranked as tied") % {
            "a": a_title, "b": b_title}
    else:
        verdict = _("no established difference")
    if n > 1:
        verdict = ngettext("%(verdict)s (%(k)s of %(n)s seed)", "%(verdict)s (%(k)s of %(n)s seeds)", n) % {
            "verdict": verdict, "k": lang.integer(n_a if not n_b * 2 > n else n_b), "n": lang.integer(n)}
    return verdict


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
        verdict = seed_verdict(decision, significant, excludes_zero, titles[a], titles[b])
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
    verdict = pair_verdict(n, n_a, n_b, titles[a], titles[b])
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


def model_title(title: str) -> str:
    """A model's title in the active language: the catalogue's for built-in models, else as recorded."""
    return current().gettext(title) if title else title


def localise(summary: dict, configs: dict[str, dict], dataset: dict | None = None) -> dict:
    """The summary with its sentences (titles, verdicts, methods, departures) in the active language.

    Numbers are untouched. summary.json keeps the English summary; in English this returns an
    equal copy (tests/test_i18n.py checks that, so the sentences above are the ones analyse wrote).
    """
    s = copy.deepcopy(summary)
    titles = {m: model_title(e["title"]) for m, e in s["models"].items()}
    methods = {k: method_text(k) for k in METHOD_TEXTS}
    s["methods"] = dict(methods)
    s["test"] = methods["mcnemar"]
    s["bootstrap"]["description"] = methods["paired_bootstrap"]

    def name_methods(obj):
        if isinstance(obj, dict):
            key = next((k for k, v in METHODS.items() if v == obj.get("method")), None)
            if key:
                obj["method"] = methods[key]
            for v in obj.values():
                name_methods(v)
        elif isinstance(obj, list):
            for v in obj:
                name_methods(v)

    for m, e in s["models"].items():
        e["title"] = titles[m]
        n = len(e["complete_seeds"])
        if "confusion" in e:
            e["confusion"]["basis"] = confusion_basis(e["confusion"]["seed"], n)
        if "calibration" in e:
            e["calibration"]["basis"] = calibration_basis(e["confusion"]["seed"], n)
        if n:
            e["interval_method"] = (methods["t_seeds"] if n > 1 else
                                    {"accuracy": methods["wilson"], "macro": methods["bootstrap"]})
        name_methods(e)
    for p in s["pairs"]:
        p["a_title"], p["b_title"] = titles[p["a"]], titles[p["b"]]
        for seed in p["seeds"]:
            ci = seed["acc_diff_ci"]
            seed["verdict"] = seed_verdict(seed["decision"], seed["significant"], ci["low"] > 0 or ci["high"] < 0,
                                           p["a_title"], p["b_title"])
            seed["test"] = methods["mcnemar"]
        p["verdict"] = pair_verdict(p["n_seeds"], p["n_a_better"], p["n_b_better"], p["a_title"], p["b_title"])
        name_methods(p)
    for r in s.get("ranking", []):
        r["title"] = titles[r["model"]]
        if r["tied_with"] is not None:  # the leader of its group: the first model of that rank
            r["tied_with"] = titles[next(x["model"] for x in s["ranking"] if x["rank"] == r["rank"])]
        if r["compared_with"]:
            r["compared_with_title"] = titles[r["compared_with"]]
    h = s.get("headline")
    if h:
        h["best_title"] = titles[h["best"]]
        if h.get("second"):
            h["second_title"] = titles[h["second"]]
            h["verdict"] = next(p for p in s["pairs"] if (p["a"], p["b"]) == (h["best"], h["second"]))
    if configs:
        dep = run_departures(configs, titles, dataset)
        s["departures"], s["departures_headline"] = dep["items"], dep["headline"]
    return s
