"""The report's statistical sentences, in the active language: verdicts, intervals, methods (issue 21).

bench.results.study gives the numbers and the keys (methods, reasons, degenerate rules); this module words
them once, at render time, and `worded_summary` turns analyse()'s data into the summary the report prints
and saves. A model is called better than another only by the configuration-level test (unit: the training
run), Holm-adjusted; the per-seed McNemar rows are worded as what they are, two trained networks compared.
"""

from __future__ import annotations

import copy

from bench.render.i18n import _, current, ngettext, pgettext
from bench.render.text import (METHOD_TEXTS, capitalised, ci_points, count, departure_headline, departure_items,
                               interval_text, method_text, model_title, name_methods, p_value, percent, points)
from bench.results.inference import CAUTION_SEEDS, MIN_SEEDS_INTERVAL, MIN_SEEDS_TEST, REFERENCES
from bench.results.paired import ALPHA

# The methods section: each procedure, the unit it draws conclusions about and its REFERENCES entry.
PROCEDURES = (("welch_t_seeds_plus_test_set", "seed", "variance_decomposition"),
              ("t_seeds_plus_test_set", "seed", "variance_decomposition"),
              ("holm", "seed", "holm"),
              ("mcnemar_midp_tango_score", "image", ("mcnemar_midp", "paired_score_interval")),
              ("wilson", "image", None),
              ("percentile_bootstrap_over_images", "image", "calibration"),
              ("noncentral_t_welch_seeds_plus_test_set", "seed", "variance_decomposition"))


def alpha_text() -> str:
    return current().plain(ALPHA)


def pct_text(value: float, digits: int = 1) -> str:
    return percent(current().format(100 * value, f".{digits}f"))


def decision_rule(family: int) -> str:
    """The report's decision rule, as summary.json states it."""
    return ngettext("a model is called better than another only when the configuration-level test over its "
                    "training runs (Welch t over seeds with the test set's sampling variance added) rejects at "
                    "%(alpha)s after Holm's adjustment over the %(family)s pairwise comparison of this report; the "
                    "per-seed mid-p McNemar tests compare two trained networks on this test set and decide nothing "
                    "about the models",
                    "a model is called better than another only when the configuration-level test over its "
                    "training runs (Welch t over seeds with the test set's sampling variance added) rejects at "
                    "%(alpha)s after Holm's adjustment over the %(family)s pairwise comparisons of this report; the "
                    "per-seed mid-p McNemar tests compare two trained networks on this test set and decide nothing "
                    "about the models", family) % {"alpha": alpha_text(), "family": current().integer(family)}


def seed_verdict(decision: str, significant: bool, excludes_zero: bool, a_title: str, b_title: str) -> str:
    """One seed's two trained networks: which one is more accurate on this test set, if the test says so."""
    lang = current()
    if decision != "none":
        return _("these networks differ: %(model)s's more accurate") % {
            "model": lang.isolate(a_title if decision == "a" else b_title)}
    if significant:
        return _("not established: the interval includes 0")
    if excludes_zero:
        return _("not established: McNemar p ≥ %(alpha)s") % {"alpha": alpha_text()}
    return _("no significant difference between these networks")


def configuration_detail(c: dict) -> str:
    """'+2.10 points [+0.40, +3.80], p = 0.012, Holm-adjusted p = 0.024'."""
    lang = current()
    out = _("%(diff)s points %(ci)s, %(p)s") % {"diff": points(c["difference"]), "ci": ci_points(c),
                                               "p": p_value(c["p_value"], "p=")}
    if c.get("adjusted_p_value") is not None:
        out = _("%(detail)s, Holm-adjusted %(p)s") % {"detail": out, "p": lang.ltr(p_value(c["adjusted_p_value"], "p="))}
    return out


def pair_verdict(p: dict) -> str:
    """The verdict about two models (a: the higher mean accuracy): the Holm-adjusted configuration-level test."""
    lang = current()
    c = p["configuration"]
    if c["reason"] == "too_few_seeds":
        return _("not tested: the models need at least %(n)s healthy seeds each") % {"n": lang.integer(MIN_SEEDS_TEST)}
    if p["significant"]:
        return _("%(model)s better (%(detail)s)") % {"model": lang.isolate(p["a_title"]),
                                                    "detail": configuration_detail(c)}
    if c.get("low") is not None and (c["low"] > 0 or c["high"] < 0):
        # The interval is the single comparison's; the verdict is Holm's over the family: say which is which.
        return _("no established difference between the models once adjusted for the other comparisons "
                 "(%(detail)s; the interval is not adjusted)") % {"detail": configuration_detail(c)}
    return _("no established difference between the models (%(detail)s)") % {"detail": configuration_detail(c)}


def mean_sentence(agg: dict, per_seed: list[dict]) -> str:
    """How a model's mean accuracy is known: its interval with both sources of error, or why there is none."""
    lang = current()
    inf, n = agg["inference"], agg["n"]
    if n == 1:
        ci = agg["ci"]
        return _("one seed: %(acc)s, Wilson interval over the test images %(ci)s; no interval over seeds") % {
            "acc": pct_text(agg["mean"]), "ci": interval_text(pct_text(ci["low"]), pct_text(ci["high"]))}
    values = pgettext("list separator", ", ").join(pct_text(s["accuracy"]) for s in per_seed)
    if inf["low"] is None:
        return _("seed values %(values)s; no interval over seeds: with fewer than %(n)s seeds the t multiplier "
                 "makes one meaningless") % {"values": values, "n": lang.integer(MIN_SEEDS_INTERVAL)}
    text = _("mean %(acc)s over %(n)s seeds, interval %(ci)s counting both seed-to-seed variation and test-set "
             "sampling; between-seed SD %(sd)s points, test-set standard error %(se)s points") % {
        "acc": pct_text(agg["mean"]), "n": lang.integer(n),
        "ci": interval_text(pct_text(inf["low"]), pct_text(inf["high"])),
        "sd": lang.format(100 * inf["between_seed_sd"], ".2f"), "se": lang.format(100 * (inf["test_set_se"] or 0), ".2f")}
    if inf["caution"]:
        text = _("%(text)s. Caution: with fewer than %(n)s seeds the interval's own width is poorly determined") % {
            "text": text, "n": lang.integer(CAUTION_SEEDS)}
    return text


def degenerate_sentence(d: dict) -> str:
    """One rule a seed breaks, as a sentence."""
    lang = current()
    if d["rule"] == "one_class_share":
        return _("seed %(seed)s is degenerate: one class takes %(share)s of its test predictions (threshold "
                 "%(threshold)s)") % {"seed": lang.integer(d["seed"]), "share": pct_text(d["share"]),
                                      "threshold": pct_text(d["threshold"], 0)}
    return _("seed %(seed)s is degenerate: its training loss became non-finite") % {"seed": lang.integer(d["seed"])}


def power_sentence(pw: dict) -> str:
    """What the report's test can and cannot detect."""
    lang = current()
    if pw["difference"] is None:
        return _("With fewer than %(n)s seeds per model no configuration-level test is possible, so this report "
                 "cannot call one model better than another.") % {"n": lang.integer(MIN_SEEDS_TEST)}
    if pw.get("family", 1) > 1:
        # The decisions are Holm's: the smallest p must pass alpha over the family size, so power is worked out there.
        return ngettext(
            "With %(images)s test images and %(seeds)s seed per model, the configuration-level test at Holm's "
            "strictest level (%(alpha)s over %(family)s comparisons) detects a true accuracy difference of %(d)s "
            "points with %(power)s power, judging from this run's own spread between seeds; smaller differences may "
            "go unseen, so 'no established difference' does not show two models equal.",
            "With %(images)s test images and %(seeds)s seeds per model, the configuration-level test at Holm's "
            "strictest level (%(alpha)s over %(family)s comparisons) detects a true accuracy difference of %(d)s "
            "points with %(power)s power, judging from this run's own spread between seeds; smaller differences may "
            "go unseen, so 'no established difference' does not show two models equal.",
            pw["n_seeds"]) % {"images": count(pw["n_test"]), "seeds": lang.integer(pw["n_seeds"]),
                              "alpha": alpha_text(), "family": lang.integer(pw["family"]),
                              "d": lang.format(100 * pw["difference"], ".2f"),
                              "power": percent(lang.format(100 * pw["power"], ".0f"))}
    return ngettext("With %(images)s test images and %(seeds)s seed per model, the configuration-level test at "
                    "%(alpha)s detects a true accuracy difference of %(d)s points with %(power)s power; smaller "
                    "differences may go unseen, so 'no established difference' does not show two models equal.",
                    "With %(images)s test images and %(seeds)s seeds per model, the configuration-level test at "
                    "%(alpha)s detects a true accuracy difference of %(d)s points with %(power)s power; smaller "
                    "differences may go unseen, so 'no established difference' does not show two models equal.",
                    pw["n_seeds"]) % {"images": count(pw["n_test"]), "seeds": lang.integer(pw["n_seeds"]),
                                      "alpha": alpha_text(), "d": lang.format(100 * pw["difference"], ".2f"),
                                      "power": percent(lang.format(100 * pw["power"], ".0f"))}


def reference_sentence(title: str, d: dict) -> str:
    """A model's difference from the reference study's published accuracy."""
    lang = current()
    if d["accuracy_ci"] is None:
        return _("%(model)s %(diff)s points (a plain difference, without interval)") % {
            "model": lang.isolate(title), "diff": points(d["accuracy"])}
    return _("%(model)s %(diff)s points %(ci)s") % {"model": lang.isolate(title), "diff": points(d["accuracy"]),
                                                    "ci": ci_points(d["accuracy_ci"])}


def calibration_sentence(title: str, c: dict) -> str:
    """A model's ECE: the mean over seeds, with its interval where there are enough seeds."""
    lang = current()
    ece = lang.format(c["mean"], ".3f")
    n = len(c["per_seed"])
    if c["interval"] and c["interval"]["low"] is not None:
        return _("%(model)s: ECE %(ece)s, mean over %(n)s seeds, interval %(ci)s") % {
            "model": lang.isolate(title), "ece": ece, "n": lang.integer(n),
            "ci": interval_text(lang.format(max(0.0, c["interval"]["low"]), ".3f"),
                                lang.format(c["interval"]["high"], ".3f"))}
    seeds = pgettext("list separator", ", ").join(
        _("%(ece)s %(ci)s") % {"ece": lang.format(s["ece"], ".3f"),
                               "ci": interval_text(lang.format(s["low"], ".3f"), lang.format(s["high"], ".3f"))}
        for s in c["per_seed"])
    # How these intervals were made is said once, in the sentence that introduces the list (_comparison.html.j2).
    return _("%(model)s: ECE %(seeds)s") % {"model": lang.isolate(title), "seeds": seeds}


def procedures(s: dict) -> list[dict]:
    """The methods section: name, unit, alpha and family, reference of every procedure the report uses."""
    lang = current()
    units = {"seed": _("unit: the training run (seed)"), "image": _("unit: the test image")}
    family = ngettext("alpha %(alpha)s, family: the %(n)s pairwise comparison of models",
                      "alpha %(alpha)s, family: the %(n)s pairwise comparisons of models", s["family"]["pairs"]) % {
        "alpha": alpha_text(), "n": lang.integer(s["family"]["pairs"])}
    rows = []
    for key, unit, ref in PROCEDURES:
        detail = family if key in ("welch_t_seeds_plus_test_set", "holm") else _("alpha %(alpha)s, per seed") % {
            "alpha": alpha_text()} if key == "mcnemar_midp_tango_score" else ""
        rows.append({"key": key, "name": capitalised(s["methods"][key]), "unit": units[unit], "detail": detail,
                     "reference": " ".join(REFERENCES[r] for r in ((ref,) if isinstance(ref, str) else ref or ()))})
    rows.append({"key": "single_checkpoint_tests", "name": _("Why not one test per checkpoint"), "unit": units["seed"],
                 "detail": _("a test on one trained network per model ignores seed-to-seed variation"),
                 "reference": REFERENCES["single_checkpoint_tests"]})
    return rows


def worded_summary(summary: dict) -> dict:
    """analyse()'s data with its words in the active language: what the report prints and summary.json keeps.

    Numbers are untouched; titles of built-in models, methods, verdicts and departures become sentences.
    """
    lang = current()
    s = copy.deepcopy(summary)
    names = {m: model_title(e["title"]) for m, e in s["models"].items()}
    resamples = s["bootstrap"]["resamples"]
    s["methods"] = {k: method_text(k, resamples) for k in METHOD_TEXTS}
    if s["bootstrap"].get("calibration_resamples"):
        s["methods"]["percentile_bootstrap_over_images"] = method_text("percentile_bootstrap_over_images",
                                                                       s["bootstrap"]["calibration_resamples"])
    s["test"] = s["methods"]["mcnemar_midp_tango_score"]
    s["bootstrap"]["description"] = s["methods"]["paired_bootstrap"]
    s["decision_rule"] = decision_rule(s["family"]["size"])
    s["references"] = dict(REFERENCES)
    s["procedures"] = procedures(s)
    s["power"]["sentence"] = power_sentence(s["power"])
    s["undefined_note"] = _("— : undefined (a class never predicted has no precision; one absent from the labels "
                            "has no recall); averages skip undefined scores instead of counting them as 0")
    for m, e in s["models"].items():
        e["title"] = names[m]
        e["degenerate_sentences"] = [degenerate_sentence(d) for d in e["degenerate"]]
        if "aggregate" in e:
            e["aggregate"]["accuracy"]["sentence"] = mean_sentence(
                e["aggregate"]["accuracy"], [x for x in e["per_seed"] if not x["degenerate"]])
            n = e["aggregate"]["accuracy"]["n"]
            e["confusion"]["basis"] = (_("seed %(seed)s") % {"seed": lang.integer(e["confusion"]["seed"])} if n == 1
                                       else _("seed %(seed)s (the first of %(n)s healthy seeds; counts of one test "
                                              "set, not summed over seeds)") % {
                                           "seed": lang.integer(e["confusion"]["seed"]), "n": lang.integer(n)})
            e["calibration"]["basis"] = (_("seed %(seed)s") % {"seed": lang.integer(e["confusion"]["seed"])}
                                         if n == 1 else _("test predictions of all %(n)s healthy seeds pooled") % {
                                             "n": lang.integer(n)})
            e["calibration_over_seeds"]["sentence"] = calibration_sentence(names[m], e["calibration_over_seeds"])
            if e.get("reference_diff"):
                e["reference_diff"]["sentence"] = reference_sentence(names[m], e["reference_diff"])
        if isinstance(e.get("interval_method"), str):
            e["interval_method"] = method_text(e["interval_method"], resamples)
        elif e.get("interval_method"):
            e["interval_method"] = {k: method_text(v, resamples) for k, v in e["interval_method"].items()}
    for p in s["pairs"]:
        p["a_title"], p["b_title"] = names[p["a"]], names[p["b"]]
        for seed in p["seeds"]:
            ci = seed["acc_diff_ci"]
            seed["verdict"] = seed_verdict(seed["decision"], seed["significant"], ci["low"] > 0 or ci["high"] < 0,
                                           p["a_title"], p["b_title"])
            seed["test"] = s["methods"]["mcnemar_midp_tango_score"]
        p["verdict"] = pair_verdict(p)
    name_methods(s["models"])
    name_methods(s["pairs"])
    for r in s.get("ranking", []):
        r["title"] = names[r["model"]]
        if r["tied_with"] is not None:  # the leader of its group: the first model of that rank
            r["tied_with"] = names[next(x["model"] for x in s["ranking"] if x["rank"] == r["rank"])]
        if r["compared_with"]:
            r["compared_with_title"] = names[r["compared_with"]]
    h = s.get("headline")
    if h:
        h["best_title"] = names[h["best"]]
        if h.get("second"):
            h["second_title"] = names[h["second"]]
            h["verdict"] = next(p for p in s["pairs"] if {p["a"], p["b"]} == {h["best"], h["second"]})
    for m, e in s["models"].items():
        if "learning" in e:
            e["learning"]["sentence"] = learning_sentence(names[m], e["learning"])
        if "direction" in e.get("calibration", {}):
            e["calibration"]["direction"]["sentence"] = direction_sentence(names[m], e["calibration"]["direction"])
    s["first_rank"] = first_rank_sentence(s.get("ranking", []), names, s["family"]["size"] > 0)
    failed = [names[m] for m, e in s["models"].items() if e.get("learning", {}).get("did_not_learn")]
    s["not_learned_calibration"] = not_learned_calibration(failed)
    s["not_learned_note"] = not_learned_note(len(failed))
    if s.get("illustrative"):
        s["illustrative"]["sentence"] = illustrative_sentence(s["illustrative"])
        s["illustrative"]["ranking"] = illustrative_ranking(s["illustrative"])
    s["departures"] = departure_items(s["departures"], names)
    s["departures_headline"] = departure_headline(s.pop("departure_facts"))
    return s


# ----------------------------------------------------------------------------- page 1 and the comparison (issue 22)


def span_text(low: int, high: int) -> str:
    """'2–4' or '10': a range of counts in the language's digits."""
    lang = current()
    return lang.integer(low) if low == high else pgettext("range", "%(low)s–%(high)s") % {
        "low": lang.integer(low), "high": lang.integer(high)}


def illustrative_reasons(f: dict) -> str:
    """What makes a run illustrative (bench.results.departures.illustrative), as a noun phrase."""
    lang = current()
    parts = []
    if f["train_images"]:
        parts.append(_("%(run)s of the full protocol's %(full)s training images") % {
            "run": count(f["train_images"][0]), "full": count(f["train_images"][1])})
    if f["epochs"]:
        run, full = f["epochs"]["run"], f["epochs"]["full"]
        parts.append(ngettext("%(run)s epoch per model instead of %(full)s", "%(run)s epochs per model instead of "
                              "%(full)s", run[1]) % {"run": span_text(*run), "full": span_text(*full)})
    details = pgettext("list separator", ", ").join(parts)
    if f["profile"]:
        profile = lang.isolate(f["profile"])
        return (_("the %(profile)s profile (%(details)s)") % {"profile": profile, "details": details} if details
                else _("the %(profile)s profile") % {"profile": profile})
    return details


def illustrative_sentence(f: dict) -> str:
    """Page 1: why this run's numbers show the pipeline, not the models."""
    return _("These numbers are illustrative: they show that the pipeline works, not how the models compare, "
             "because the run uses %(reasons)s.") % {"reasons": illustrative_reasons(f)}


def illustrative_ranking(f: dict) -> str:
    """Beside every ranking of an illustrative run."""
    return _("This ranking is illustrative only (page %(page)s): the run uses %(reasons)s, so it shows the "
             "pipeline at work, not how the models compare.") % {"reasons": illustrative_reasons(f),
                                                                 "page": current().integer(1)}


def first_rank_sentence(ranking: list[dict], names: dict[str, str], tested: bool) -> str | None:
    """Who ranks first, counting the models that share the rank; None for fewer than two ranked models."""
    lang = current()
    n = len(ranking)
    if n < 2:
        return None
    top = [r["model"] for r in ranking if r["rank"] == 1]
    if len(top) == 1:
        return _("%(model)s alone ranks first: the Holm-adjusted tests over training runs put it above every "
                 "other model.") % {"model": lang.isolate(names[top[0]])}
    if not tested:
        text = (_("With fewer than %(min)s healthy seeds per model no test over training runs is possible, so "
                  "both models share the first rank.") if n == 2 else
                _("With fewer than %(min)s healthy seeds per model no test over training runs is possible, so all "
                  "%(n)s models share the first rank."))
        return text % {"min": lang.integer(MIN_SEEDS_TEST), "n": lang.integer(n)}
    if len(top) == n:
        return (_("The Holm-adjusted test over training runs cannot tell the two models apart: both share the "
                  "first rank.") if n == 2 else _("The Holm-adjusted tests over training runs cannot tell the "
                                                  "best model from any other: all %(n)s models share the first "
                                                  "rank.")) % {
            "n": lang.integer(n)}
    return _("The Holm-adjusted tests over training runs cannot tell %(models)s apart: these %(k)s models share "
             "the first rank.") % {"models": lang.join(lang.isolate(names[m]) for m in top),
                               "k": lang.integer(len(top))}


def seeds_text(seeds: list[int]) -> str:
    return pgettext("list separator", ", ").join(current().integer(s) for s in seeds)


def learning_reasons(lr: dict) -> str:
    """Why a model's seeds did not learn (bench.results.learning), as clauses joined by 'and'."""
    lang = current()
    bad = [s for s in lr["seeds"] if not s["learned"]]
    parts = []
    near = [s for s in bad if s["near_chance"]]
    if near:
        parts.append(ngettext(
            "training accuracy ended near chance in seed %(seeds)s (%(values)s; chance %(chance)s)",
            "training accuracy ended near chance in seeds %(seeds)s (%(values)s; chance %(chance)s)", len(near)) % {
            "seeds": seeds_text([s["seed"] for s in near]),
            "values": pgettext("list separator", ", ").join(pct_text(s["train_accuracy"]) for s in near),
            "chance": pct_text(lr["chance"])})
    never = [s for s in bad if s["never_predicted"]]
    if never:
        counts = [len(s["never_predicted"]) for s in never]
        parts.append(ngettext("it never predicts %(n)s of the %(k)s test classes in seed %(seeds)s",
                              "it never predicts %(n)s of the %(k)s test classes in seeds %(seeds)s", len(never)) % {
            "n": span_text(min(counts), max(counts)), "k": lang.integer(never[0]["classes_in_test"]),
            "seeds": seeds_text([s["seed"] for s in never])})
    degenerate = [s["seed"] for s in bad if s["degenerate"]]
    if degenerate:
        parts.append(ngettext("its predictions are degenerate in seed %(seeds)s",
                              "its predictions are degenerate in seeds %(seeds)s", len(degenerate)) % {
            "seeds": seeds_text(degenerate)})
    return lang.join(parts)


def learning_sentence(title: str, lr: dict) -> str | None:
    """A model that did not learn (or its seeds that did not) and why; None when every seed learned."""
    lang = current()
    if not lr["seeds_not_learned"]:
        return None
    model = lang.isolate(title)
    if lr["did_not_learn"]:
        return _("%(model)s did not learn: %(reasons)s.") % {"model": model, "reasons": learning_reasons(lr)}
    return ngettext("Seed %(seeds)s of %(model)s did not learn: %(reasons)s.",
                    "Seeds %(seeds)s of %(model)s did not learn: %(reasons)s.", len(lr["seeds_not_learned"])) % {
        "seeds": seeds_text(lr["seeds_not_learned"]), "model": model, "reasons": learning_reasons(lr)}


def not_learned_note(n: int) -> str | None:
    """After the sentences naming the `n` models that did not learn: what their rank is worth."""
    if not n:
        return None
    return ngettext("Its place in the ranking says nothing about its architecture.",
                    "Their places in the ranking say nothing about their architectures.", n)


def direction_sentence(title: str, d: dict) -> str:
    """Over- or under-confident, in those words, with the gap in points and its interval over test images."""
    lang = current()
    values = {"model": lang.isolate(title), "confidence": pct_text(d["mean_confidence"]),
              "accuracy": pct_text(d["accuracy"])}
    if d["direction"] == "over":
        return _("%(model)s is over-confident: its mean confidence, %(confidence)s, exceeds its accuracy, "
                 "%(accuracy)s, by %(gap)s points %(ci)s.") % {
            **values, "gap": lang.format(100 * d["gap"], ".1f"),
            "ci": interval_text(lang.format(100 * d["low"], ".1f"), lang.format(100 * d["high"], ".1f"))}
    if d["direction"] == "under":
        return _("%(model)s is under-confident: its mean confidence, %(confidence)s, falls short of its accuracy, "
                 "%(accuracy)s, by %(gap)s points %(ci)s.") % {
            **values, "gap": lang.format(-100 * d["gap"], ".1f"),
            "ci": interval_text(lang.format(-100 * d["high"], ".1f"), lang.format(-100 * d["low"], ".1f"))}
    return _("%(model)s is neither clearly over- nor under-confident: mean confidence %(confidence)s against "
             "accuracy %(accuracy)s, a gap of %(gap)s points %(ci)s that includes 0.") % {
        **values, "gap": points(d["gap"], 1), "ci": ci_points(d, 1)}


def not_learned_calibration(titles: list[str]) -> str | None:
    """The warning that calibration means little for models that did not learn."""
    if not titles:
        return None
    lang = current()
    return ngettext("Calibration means little for %(models)s, which did not learn: its confidence describes "
                    "guessing, not a classifier.",
                    "Calibration means little for %(models)s, which did not learn: their confidence describes "
                    "guessing, not a classifier.", len(titles)) % {
        "models": lang.join(lang.isolate(t) for t in titles)}
