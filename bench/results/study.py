"""From a run's artifacts to every number of the report, as plain data (render adds the words).

Choices, so that every sentence of the report can be checked against these numbers (issue 21):

- The unit of a claim about a MODEL is the training run (seed). A model's mean accuracy (and macro
  P/R/F1) over seeds gets an interval that adds the test set's sampling variance to the seed-to-seed
  variance (bench.results.inference.mean_interval); with fewer than 3 seeds there is no over-seeds interval
  (reason "too_few_seeds"; one seed keeps its own Wilson / bootstrap interval over the test images), and
  with fewer than 5 a caution flag. The between-seed SD and the test-set SE are reported separately.
- Models are compared by the configuration-level test (inference.compare_configurations, unpaired: a seed
  number links little across architectures), Holm-adjusted over the family of every pair of models in the
  report; a model ranks above another only where those adjusted tests say so (rank_configurations).
- Each seed's pair of trained networks is compared as what it is, two checkpoints on this test set: mid-p
  McNemar and its Tango score interval (inference.mcnemar_midp), never a verdict about the models.
- Degenerate seeds (one class takes >= 95 % of the predictions, or a non-finite training loss) stay
  listed (`degenerate`) and per seed, but are left out of means, intervals, tests and rankings.
- A model that did not learn (near-chance training accuracy, classes never predicted, degenerate seeds:
  bench.results.learning) is flagged (`learning`), not removed: it keeps its numbers and its rank, and the
  report names it before any comparison uses it.
- A run whose departures make its numbers illustrative (fewer training images or epochs than the full
  protocol, or another profile: departures.illustrative) says so in `illustrative`.
- Confusion matrices, confused pairs and supports describe one test set: the first healthy seed's
  predictions, never counts summed over seeds. The reliability diagram pools the healthy seeds'
  predictions; the model's ECE is the mean of per-seed ECEs with bootstrap intervals.
- Undefined per-class scores (precision of a class never predicted) are None; averages skip them.
"""

from __future__ import annotations

import math

import numpy as np

from bench.protocol import REFERENCE, REFERENCE_RESULT_KEYS, REFERENCE_SETUP_KEYS
from bench.results import inference, learning, stats
from bench.results.departures import run_departures
from bench.results.metrics import confusion, per_class_table, summary_metrics
from bench.results.paired import ALPHA, CONFIDENCE, checkpoints, interval

MACRO = ("macro_precision", "macro_recall", "macro_f1")


def seed_stats(run, classes: list[str]) -> dict:
    """One complete seed's test metrics, with its own intervals over the test images and calibration."""
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


def degenerate_seeds(runs: list, num_classes: int) -> list[dict]:
    """{"seed", "rule", ...} for every rule a complete seed breaks (inference.degenerate); [] when none."""
    out = []
    for r in runs:
        losses = [h.get("train_loss") for h in (r.history or []) if "train_loss" in h]
        losses = [math.nan if v is None else v for v in losses]
        for hit in inference.degenerate(r.predictions["predicted"], losses, num_classes=num_classes):
            out.append({"seed": r.seed, **hit})
    return out


def over_seeds(key: str, values: list[float], per_seed: list[dict], inf: dict) -> dict | None:
    """The interval printed beside a model's mean: over seeds with test-set sampling (3+ seeds), the one
    seed's own interval over the test images, or None (two seeds: too few for an over-seeds interval)."""
    if len(values) == 1:
        return per_seed[0]["accuracy_ci"] if key == "accuracy" else per_seed[0]["macro_ci"][key.removeprefix("macro_")]
    if inf["low"] is None:
        return None
    # Clipped to the metric's range [0, 1], as the method's text says; `inference` keeps the unclipped bounds.
    return {**interval(max(0.0, inf["low"]), min(1.0, inf["high"]), "t_seeds_plus_test_set"), "caution": inf["caution"]}


def aggregate(per_seed: list[dict], labels: np.ndarray, preds: np.ndarray, num_classes: int) -> dict:
    """Mean, std, min, max over (healthy) seeds; accuracy and the macro averages with the interval that carries
    both sources of error (`inference`: the whole mean_interval record, SD and test-set SE apart)."""
    agg = {}
    correct = (preds == labels[None, :]).astype(np.float64)
    macro_se = inference.macro_test_set_se(labels, preds, num_classes=num_classes, n_resamples=2000)
    for k in ("accuracy", "loss", *MACRO):
        values = [s[k] for s in per_seed]
        agg[k] = stats.describe_seeds(values)
        if k == "loss":
            agg[k]["ci"] = None  # the loss is described, not inferred about
            continue
        if k == "accuracy":
            inf = inference.mean_interval(values, correct, alpha=ALPHA)
        else:
            se = None if macro_se is None else macro_se[k.removeprefix("macro_")]
            inf = inference.mean_interval(values, test_set_se=0.0 if se is None else se, alpha=ALPHA)
            inf["test_set_se"] = se
        agg[k]["inference"] = inf
        agg[k]["ci"] = over_seeds(k, values, per_seed, inf)
    agg["train_seconds"] = stats.describe_seeds([s["train_seconds"] or 0.0 for s in per_seed])
    return agg


def per_class_rows(runs: list, classes: list[str]) -> dict:
    """Per class (and the macro / weighted averages): each score described over the seeds where it is defined;
    `undefined`: the seeds where it is not (None, printed as a dash, never 0)."""
    reports = [per_class_table(r.predictions["labels"], r.predictions["predicted"], classes) for r in runs]
    rows = {}
    for row in [*classes, "macro avg", "weighted avg"]:
        rows[row] = {"support": int(reports[0][row]["support"])}  # the test set's counts: the same for every seed
        for k in ("precision", "recall", "f1-score"):
            values = [rep[row][k] for rep in reports if not math.isnan(rep[row][k])]
            rows[row][k] = {**(stats.describe_seeds(values) if values else
                               {"mean": None, "std": None, "min": None, "max": None, "n": 0}),
                            "undefined": len(reports) - len(values)}
    return rows


def reference_entry(builtin: dict | None, recorded: dict | None) -> dict | None:
    """A model's reference entry: the one its run recorded, else the built-in study's. A run recorded before
    references carried the study's training setup gets the built-in setup when its results are the built-in
    study's own (the same published numbers), and no setup otherwise: another study's is unknown."""
    if recorded is None:
        return builtin
    if (builtin and not any(k in recorded for k in REFERENCE_SETUP_KEYS)
            and all(recorded.get(k) == builtin.get(k) for k in REFERENCE_RESULT_KEYS)):
        return {**builtin, **recorded}
    return recorded


def model_entry(runs: list, classes: list[str], title: str, reference: dict | None, like_for_like: bool) -> dict:
    """Everything the report states about one model, over its complete seeds (numbers over the healthy ones)."""
    done = [r for r in runs if r.status == "complete"]
    entry = {"title": title, "seeds": [r.seed for r in runs],
             "status": {str(r.seed): r.status for r in runs}, "complete_seeds": [r.seed for r in done],
             "parameters": runs[0].config.get("parameters"), "reference": reference, "degenerate": []}
    if not done:
        return entry
    entry["degenerate"] = degenerate_seeds(done, len(classes))
    bad = {d["seed"] for d in entry["degenerate"]}
    healthy = [r for r in done if r.seed not in bad]
    entry["healthy_seeds"] = [r.seed for r in healthy]
    entry["per_seed"] = [{**seed_stats(r, classes), "degenerate": r.seed in bad} for r in done]
    entry["learning"] = learning.model_learning(
        [learning.seed_learning(r.seed, learning.final_train_accuracy(r.history), r.predictions["labels"],
                                r.predictions["predicted"], classes, [d for d in entry["degenerate"] if d["seed"] == r.seed])
         for r in done], len(classes))
    if not healthy:
        return entry
    per_seed = [s for s in entry["per_seed"] if not s["degenerate"]]
    labels = healthy[0].predictions["labels"]
    preds = np.stack([r.predictions["predicted"] for r in healthy])
    logits = np.stack([r.predictions["logits"] for r in healthy])
    entry["aggregate"] = aggregate(per_seed, labels, preds, len(classes))
    n = len(healthy)
    entry["interval_method"] = ({"accuracy": "wilson", "macro": "bootstrap"} if n == 1 else
                                "t_seeds_plus_test_set" if n >= inference.MIN_SEEDS_INTERVAL else None)
    entry["per_class"] = per_class_rows(healthy, classes)
    first = healthy[0]
    cm = confusion(labels, first.predictions["predicted"], len(classes))
    entry["confusion"] = {"seed": first.seed, "counts": cm.tolist(), "total": int(cm.sum())}
    entry["top_confusions"] = stats.top_confusions(cm, classes)
    pooled_labels = np.concatenate([r.predictions["labels"] for r in healthy])
    pooled = np.concatenate(list(logits))
    entry["calibration"] = {**stats.calibration(pooled_labels, pooled),
                            "overall_accuracy": float((pooled.argmax(1) == pooled_labels).mean())}
    # Which way the model errs (issue 22): the gap's sign decided by its interval over test images, and the bins
    # of the pooled reliability diagram that hold too few predictions to read.
    entry["calibration"]["direction"] = learning.confidence_gap(labels, logits)
    entry["calibration"]["sparse"] = learning.sparse_bins(entry["calibration"]["counts"])
    entry["calibration_over_seeds"] = inference.calibration_over_seeds(labels, logits, n_bins=stats.ECE_BINS,
                                                                       alpha=ALPHA)
    if reference and "accuracy" in reference:  # a protocol file's reference may publish the loss only
        acc = entry["aggregate"]["accuracy"]
        ci = acc["ci"]
        ref = inference.reference_difference(acc["mean"], reference["accuracy"], like_for_like=like_for_like,
                                             interval=(ci["low"], ci["high"]) if ci else None)
        entry["reference_diff"] = {"accuracy": ref["difference"], "loss": entry["aggregate"]["loss"]["mean"]
                                   - reference["loss"] if "loss" in reference else None,
                                   "like_for_like": like_for_like, "reason": ref["reason"],
                                   "accuracy_ci": interval(ref["low"], ref["high"], "reference_diff")
                                   if ref["low"] is not None else None}
    return entry


def checkpoint_row(seed: int, y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, num_classes: int) -> dict:
    """Seed `seed`'s two trained networks on this test set (a minus b): mid-p McNemar, its Tango score interval,
    and the macro-F1 difference with a paired bootstrap interval. About these checkpoints, not the models."""
    c = checkpoints(y, pred_a, pred_b, num_classes=num_classes)
    t = c["test"]
    return {"seed": seed, "a_only": t["n10"], "b_only": t["n01"], "p_value": t["p_value"],
            "exact_p_value": t["exact_p_value"], "acc_diff": t["diff"], "acc_diff_ci": c["acc_diff_ci"],
            "f1_diff": c["f1_diff"], "f1_diff_ci": c["f1_diff_ci"], "significant": c["significant"],
            # "a"/"b": these two networks differ on this test set, in that one's favour; never a model verdict.
            "decision": {"first": "a", "second": "b"}.get(c["favours"], "none"), "unit": "checkpoint",
            "test_and_interval_agree": c["significant"] == c["excludes_zero"]}


def pair(a: str, b: str, runs_a: dict, runs_b: dict, titles: dict, configuration: dict, num_classes: int) -> dict:
    """Models a (the higher mean accuracy) and b: the configuration-level test (Holm-adjusted, `configuration`,
    which decides `significant`) and, below it, every seed both trained as a pair of checkpoints."""
    per_seed = []
    for seed in sorted(set(runs_a) & set(runs_b)):
        pa, pb = runs_a[seed].predictions, runs_b[seed].predictions
        if np.array_equal(pa["labels"], pb["labels"]):
            per_seed.append(checkpoint_row(seed, pa["labels"], pa["predicted"], pb["predicted"], num_classes))
    n_a = sum(s["decision"] == "a" for s in per_seed)
    n_b = sum(s["decision"] == "b" for s in per_seed)
    return {"a": a, "b": b, "a_title": titles[a], "b_title": titles[b], "seeds": per_seed,
            "n_seeds": len(per_seed), "n_significant": sum(s["significant"] for s in per_seed), "n_a_better": n_a,
            "n_b_better": n_b, "configuration": configuration, "significant": configuration["significant"],
            "decision": "a" if configuration["significant"] else "none",
            "mean_acc_diff": configuration["difference"]}


def ranking(ranked: dict, titles: dict, models: dict) -> list[dict]:
    """rank_configurations' groups as the report lists them: each model with its rank, the leader of its group
    when it shares one (`tied_with`), and the model above it (`compared_with`)."""
    out, rows = [], ranked["ranking"]
    for i, r in enumerate(rows):
        m = r["model"]
        leader = next(x["model"] for x in rows if x["rank"] == r["rank"])
        tied = leader != m
        other = rows[i - 1]["model"] if i else None
        out.append({"model": m, "title": titles[m], "rank": r["rank"], "tied_with_previous": tied,
                    "tied_with": titles[leader] if tied else None,
                    "compared_with": other, "compared_with_title": titles[other] if other else None,
                    "accuracy": models[m]["aggregate"]["accuracy"]["mean"]})
    return out


def power(models: dict, n_test: int, family: int = 1) -> dict:
    """The smallest accuracy difference between two models that this test set and seed count detect with 80 %
    power (inference.minimal_detectable_difference), from the pooled between-seed SD of this run (a post-hoc
    estimate), at the level the report's decisions need: ALPHA divided by the `family` size, Holm's first step."""
    done = [e for e in models.values() if "aggregate" in e]
    seeds = min((e["aggregate"]["accuracy"]["n"] for e in done), default=0)
    sds = [(e["aggregate"]["accuracy"]["n"] - 1, e["aggregate"]["accuracy"]["std"]) for e in done]
    dof = sum(d for d, _ in sds)
    sd = math.sqrt(sum(d * v * v for d, v in sds) / dof) if dof else 0.0
    acc = float(np.mean([e["aggregate"]["accuracy"]["mean"] for e in done])) if done else 0.5
    out = inference.minimal_detectable_difference(max(n_test, 2), seeds, seeds, between_seed_sd=sd, accuracy=acc,
                                                  alpha=ALPHA / max(1, family))
    return {**out, "n_test": n_test, "n_seeds": seeds, "between_seed_sd": sd if dof else None,
            "family": max(1, family)}


def analyse(artifacts) -> dict:
    """Every number of the report, as plain data; bench.render.text.worded_summary adds its words."""
    classes = artifacts.dataset["classes"]
    n_test = next((len(r.predictions["labels"]) for r in artifacts.runs if r.status == "complete"), 0)
    out = {"classes": classes, "models": {}, "pairs": [], "alpha": ALPHA, "confidence": CONFIDENCE,
           "bootstrap": {"resamples": stats.resamples_for(n_test), "seed": stats.BOOTSTRAP_SEED,
                         "method": "percentile", "calibration_resamples": None}}
    titles, healthy, configs = {}, {}, {}
    for model in artifacts.models():
        titles[model] = artifacts.of(model)[0].config.get("title", model)
        configs[model] = artifacts.of(model)[0].config
    dep = run_departures(configs, artifacts.dataset)
    out["departures"] = dep["items"]
    out["departure_facts"] = dep["facts"]
    out["like_for_like"] = dep["like_for_like"]
    out["illustrative"] = dep["illustrative"]
    # Reference numbers: the study's, plus those a protocol file gave (recorded in the manifest by training).
    recorded = ((artifacts.manifest.get("protocol") or {}).get("reference")) or {}
    references = {m: reference_entry(REFERENCE.get(m), recorded.get(m)) for m in {*REFERENCE, *recorded}}
    for model in artifacts.models():
        runs = artifacts.of(model)
        entry = model_entry(runs, classes, titles[model], references.get(model), out["like_for_like"])
        out["models"][model] = entry
        if not entry["complete_seeds"]:
            entry["interval_method"] = None
        healthy[model] = {r.seed: r for r in runs if r.seed in entry.get("healthy_seeds", [])}
        if "calibration_over_seeds" in entry:
            out["bootstrap"]["calibration_resamples"] = entry["calibration_over_seeds"]["resamples"]

    done = [m for m in out["models"] if "aggregate" in out["models"][m]]
    labels = next(iter(healthy[done[0]].values())).predictions["labels"] if done else None
    ranked = inference.rank_configurations(
        labels, {m: np.stack([r.predictions["predicted"] for r in healthy[m].values()]) for m in done},
        seeds={m: list(healthy[m]) for m in done}, alpha=ALPHA) if done else {"ranking": [], "comparisons": []}
    out["family"] = {"size": sum(c["p_value"] is not None for c in ranked["comparisons"]),
                     "pairs": len(ranked["comparisons"]), "adjustment": "holm", "alpha": ALPHA}
    for c in ranked["comparisons"]:
        a, b = c["first"], c["second"]
        configuration = {k: v for k, v in c.items() if k not in ("first", "second")}
        out["pairs"].append(pair(a, b, healthy[a], healthy[b], titles, configuration, len(classes)))
    out["ranking"] = ranking(ranked, titles, out["models"])
    out["power"] = power(out["models"], n_test, out["family"]["size"])
    order = [r["model"] for r in out["ranking"]]
    if len(order) >= 2:
        best, second = order[0], order[1]
        verdict = next(p for p in out["pairs"] if {p["a"], p["b"]} == {best, second})
        out["headline"] = {"best": best, "best_title": titles[best], "second": second, "second_title": titles[second],
                           "margin": out["ranking"][0]["accuracy"] - out["ranking"][1]["accuracy"],
                           "verdict": verdict}
    elif order:
        out["headline"] = {"best": order[0], "best_title": titles[order[0]], "second": None}
    return out
