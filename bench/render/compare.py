"""`bench compare RUN_A RUN_B`: the comparison's words, its page and its terminal table, in the active language.

The numbers are bench.results.compare's; here they get their sentences (made once, in the page's
language, through the same gettext catalogue as the report) and become <out>.html, <out>.pdf and
<out>.summary.json by bench.render.outputs' rule.
"""

from __future__ import annotations

import copy
from pathlib import Path

from bench import __version__
from bench.render import i18n, outputs
from bench.render.facts import old_device
from bench.render.i18n import _, current, pgettext
from bench.render.text import (ci_points, interval_text, long_date, method_text, model_title, name_methods,
                               p_value, parse_time, percent, points)
from bench.results.compare import compare
from bench.results.inference import MIN_SEEDS_TEST, REFERENCES
from bench.results.paired import ALPHA, CONFIDENCE

TEMPLATE = "compare.html.j2"
STYLESHEETS = ("style.css", "compare.css")
METHODS = ("mcnemar_midp_tango_score", "paired_bootstrap", "welch_t_seeds_plus_test_set",
           "paired_t_seeds_plus_test_set", "t_seeds", "wilson")


def _alpha() -> str:
    return current().plain(ALPHA)


def _categories() -> dict[str, str]:
    """The kinds of run settings (bench.results.compare.SETTING_SOURCES), as the headline names them."""
    return {"profile": pgettext("setting", "profile"), "data": pgettext("setting", "data"),
            "device": pgettext("setting", "device"), "precision": pgettext("setting", "precision"),
            "threads": pgettext("setting", "threads"), "versions": pgettext("setting", "versions"),
            "commit": pgettext("setting", "commit"), "executor": pgettext("setting", "executor"),
            "options": pgettext("setting", "options")}


def test_set_sentence(ts: dict) -> str:
    """Whether the two runs saw the same test images with the same labels, in one sentence."""
    lang = current()
    a, b = ts["a"], ts["b"]
    if ts["classes_differ"]:
        return _("The runs name their classes differently; no paired test is made.")
    if not ts["differ"]:
        return _("Both runs were evaluated on the same %(n)s test images (same test-set digest and labels): the "
                 "comparison is paired, image by image.") % {"n": lang.format(a["images"], ",")}
    what = lang.join([_("test-set digests") if w == "digests" else _("test labels") for w in ts["differ"]])
    if a["images"] != b["images"]:
        return _("The runs were evaluated on different test sets: their %(what)s differ (%(a)s vs %(b)s images). No "
                 "paired test is possible; each run's accuracy is shown with its own interval.") % {
            "what": what, "a": lang.format(a["images"], ","), "b": lang.format(b["images"], ",")}
    return _("The runs were evaluated on different test sets: their %(what)s differ. No paired test is possible; "
             "each run's accuracy is shown with its own interval.") % {"what": what}


def finished_text(iso: str | None) -> str:
    """When a run finished, as a reader writes it (the manifest's ISO 8601 time, in UTC, to the minute):
    2026-12-02, 04:29 UTC in English; the Solar Hijri date beside the Gregorian one in Persian."""
    lang = current()
    # text.parse_time, as every other time of the report: a timestamp without a zone is taken as written (bench
    # writes UTC), never converted through this machine's local zone, so the page is the same on every machine.
    when = parse_time(iso) if iso else None
    if when is None:
        return _("not recorded") if not iso else lang.ltr(iso)
    return _("%(date)s, %(time)s UTC") % {"date": long_date(when.date().isoformat()),
                                          "time": lang.digits_only(when.strftime("%H:%M"))}


def seed_words(r: dict, model: str, *, at_seed: bool = True) -> tuple[str, str]:
    """(short verdict, sentence) of one seed's two trained networks, B - A: about these checkpoints only."""
    lang = current()
    detail = _("%(diff)s points %(ci)s, mid-p McNemar %(p)s") % {
        "diff": points(r["acc_diff"]), "ci": ci_points(r["acc_diff_ci"]), "p": p_value(r["mcnemar"]["p_value"], "p=")}
    names = {"model": lang.isolate(model), "detail": detail,
             "at_seed": _(" at seed %(seed)s") % {"seed": lang.integer(r["seed"])} if at_seed else ""}
    if r["decision"] == "b":
        return (_("B's network more accurate"),
                _("B's network is more accurate than A's for %(model)s (%(detail)s)%(at_seed)s.") % names)
    if r["decision"] == "a":
        return (_("A's network more accurate"),
                _("A's network is more accurate than B's for %(model)s (%(detail)s)%(at_seed)s.") % names)
    return (_("networks not distinguished"),
            _("The two networks of %(model)s are not distinguished (%(detail)s)%(at_seed)s.") % names)


def overall_words(o: dict, model: str) -> tuple[str, str]:
    """(short verdict, sentence) about a model's two configurations: the configuration-level test decides."""
    lang = current()
    c = o["configuration"]
    name = lang.isolate(model)
    seeds = {"a": lang.integer(c["n_seeds_a"]), "b": lang.integer(c["n_seeds_b"])}
    if c["reason"] == "too_few_seeds":
        return (_("not tested (too few seeds)"),
                _("%(model)s is not compared as a configuration: the test over training runs needs at least %(n)s "
                  "healthy seeds in each run (A %(a)s, B %(b)s); the per-seed rows compare trained networks "
                  "only.") % {"model": name, "n": lang.integer(MIN_SEEDS_TEST), **seeds})
    how = _("paired by seed") if c["paired"] else _("unpaired: the runs do not share their seeds")
    detail = _("%(diff)s points %(ci)s over %(a)s seeds of A and %(b)s of B, %(how)s, %(p)s") % {
        "diff": points(c["difference"]), "ci": ci_points(c), "how": how, "p": p_value(c["p_value"], "p="), **seeds}
    if c["decision"] == "b":
        return _("B more accurate"), _("B is more accurate than A for %(model)s (%(detail)s).") % {
            "model": name, "detail": detail}
    if c["decision"] == "a":
        return _("A more accurate"), _("A is more accurate than B for %(model)s (%(detail)s).") % {
            "model": name, "detail": detail}
    return (_("no difference established"),
            _("No difference established for %(model)s (%(detail)s).") % {"model": name, "detail": detail})


def accuracy_with_interval(side: dict) -> str:
    """'52.10 [49.00, 55.20]': a run's accuracy and its interval, in percent."""
    lang = current()
    return "%s %s" % (lang.format(100 * side["accuracy"], ".2f"),
                      interval_text(lang.format(100 * side["ci"]["low"], ".2f"),
                                    lang.format(100 * side["ci"]["high"], ".2f")))


def unpaired_words(u: dict, model: str) -> tuple[str, str]:
    """(short verdict, sentence) of a model whose runs saw different test sets."""
    lang = current()
    lang_ci = {side: (lang.format(100 * u[side]["accuracy"], ".2f"),
                      interval_text(lang.format(100 * u[side]["ci"]["low"], ".2f"),
                                    lang.format(100 * u[side]["ci"]["high"], ".2f"))) for side in ("a", "b")}
    text = _("A %(a)s %% %(a_ci)s, B %(b)s %% %(b_ci)s") % {"a": lang_ci["a"][0], "a_ci": lang_ci["a"][1],
                                                           "b": lang_ci["b"][0], "b_ci": lang_ci["b"][1]}
    name = lang.isolate(model)
    if u["intervals_overlap"]:
        return (_("not paired; intervals overlap"),
                _("Not paired for %(model)s (different test sets): %(text)s; the intervals overlap, no difference is "
                  "shown.") % {"model": name, "text": text})
    higher = "B" if u["acc_diff"] > 0 else "A"
    return (_("not paired; intervals disjoint (%(side)s higher)") % {"side": higher},
            _("Not paired for %(model)s (different test sets): %(text)s; the intervals do not overlap (%(side)s "
              "higher), but as the test sets differ this is no paired test of the models.") % {
                "model": name, "text": text, "side": higher})


def not_compared_reason(nc: dict) -> str:
    if nc.get("labels_differ"):
        return _("labels differ")
    return pgettext("clause separator", "; ").join(
        _("%(side)s: %(status)s") % {"side": side, "status": pgettext("status", status)} for side, status in
        nc["statuses"])


def differences_headline(s: dict) -> str:
    lang = current()
    sep = pgettext("list separator", ", ")
    categories = _categories()
    whats: list[str] = []
    for r in s["differences"]["settings"]:
        if r["what"] not in whats:
            whats.append(r["what"])
    parts = [sep.join(categories.get(w, w) for w in whats)] if whats else []
    for model, rows in s["differences"]["protocol"].items():
        if rows:
            keys = [lang.ltr(r["key"]) for r in rows]
            shown = sep.join(keys[:4]) + (_(" and %(n)s more") % {"n": lang.integer(len(keys) - 4)}
                                          if len(keys) > 4 else "")
            parts.append(_("protocol of %(model)s (%(keys)s)") % {"model": lang.isolate(model), "keys": shown})
    if not parts:
        return _("no recorded setting differs between the runs")
    return _("the runs differ in %(parts)s") % {"parts": pgettext("clause separator", "; ").join(parts)}


def decision_rule() -> str:
    return _("a run is called more accurate than the other only by the configuration-level test over both runs' "
             "healthy seeds (unit: the training run; seed-to-seed variation and test-set sampling both counted) at "
             "%(alpha)s, whether or not the runs share seeds: shared seeds are paired, disjoint ones are not; the "
             "per-seed mid-p McNemar rows compare two trained networks and decide nothing about the runs") % {
        "alpha": _alpha()}


def worded(summary: dict) -> dict:
    """bench.results.compare's data with its words in the active language: what the page prints and
    <out>.summary.json keeps (numbers untouched)."""
    s = copy.deepcopy(summary)
    s["direction"] = _("differences are B minus A (accuracy in points = percentage points)")
    ts = s["test_set"]
    ts["sentence"] = test_set_sentence(ts)
    del ts["differ"], ts["classes_differ"]
    s["methods"] = {k: method_text(k, s["bootstrap_resamples"]) for k in METHODS}
    s["decision_rule"] = decision_rule()
    for side in ("a", "b"):
        s[side]["titles"] = {m: model_title(t) for m, t in s[side]["titles"].items()}
    for side in ("a", "b"):
        s[side]["finished_text"] = finished_text(s[side].get("finished_at"))
        # the device in words, as the report's setup gives it ("x86_64 CPU, 2 threads" was printed in English)
        name = s[side].get("device_name")
        s[side]["device_text"] = old_device(name) if name else current().ltr(s[side].get("device_type") or "")
    for model, e in s["models"].items():
        e["title"] = model_title(e["title"])
        title = e["title"]
        e["not_compared"] = [{"seed": nc["seed"], "reason": not_compared_reason(nc)} for nc in e["not_compared"]]
        for r in e.get("per_seed", []):
            r["verdict"], r["sentence"] = seed_words(r, title)
            r["mcnemar"]["test"] = method_text(r["mcnemar"]["test"], summary["bootstrap_resamples"])
        if e.get("overall"):
            e["overall"]["verdict"], e["overall"]["sentence"] = overall_words(e["overall"], title)
            e["degenerate_sentences"] = [
                _("%(side)s seed %(seed)s is degenerate (%(rule)s), left out of the test") % {
                    "side": side.upper(), "seed": current().integer(d["seed"]),
                    "rule": _("one class takes most predictions") if d["rule"] == "one_class_share"
                    else _("non-finite training loss")} for side in ("a", "b") for d in e["degenerate"][side]]
        elif "overall" in e:
            e["sentence"] = _("%(model)s: no healthy seed in one of the runs; nothing to compare.") % {
                "model": current().isolate(title)}
        if "unpaired" in e:
            side = e.pop("missing_side")
            if e["unpaired"]:
                e["unpaired"]["verdict"], e["unpaired"]["sentence"] = unpaired_words(e["unpaired"], title)
            else:
                e["sentence"] = _("%(model)s: no complete seed in %(side)s; nothing to compare.") % {
                    "model": current().isolate(title), "side": side}
    name_methods(s["models"])
    s["differences_headline"] = differences_headline(s)
    return s


# ----------------------------------------------------------------------------- terminal


def table_rows(summary: dict) -> list[tuple[str, ...]]:
    lang = current()
    rows = []
    for model, e in summary["models"].items():
        if e.get("overall"):
            per_seed, o = e["per_seed"], e["overall"]
            for r in per_seed:
                rows.append((model, lang.integer(r["seed"]), lang.format(100 * r["accuracy_a"], ".2f"),
                             lang.format(100 * r["accuracy_b"], ".2f"),
                             f"{points(r['acc_diff'])} {ci_points(r['acc_diff_ci'])}",
                             p_value(r["mcnemar"]["p_value"]), r["verdict"]))
            c = o["configuration"]
            seeds = _("%(a)s vs %(b)s") % {"a": ",".join(lang.integer(x) for x in o["seeds_a"]),
                                           "b": ",".join(lang.integer(x) for x in o["seeds_b"])}
            rows.append((_("%(model)s (runs)") % {"model": model}, seeds,
                         lang.format(100 * o["mean_accuracy_a"], ".2f"), lang.format(100 * o["mean_accuracy_b"], ".2f"),
                         f"{points(o['mean_acc_diff'])} {ci_points(o['acc_diff_ci'])}",
                         p_value(c["p_value"]) if c["p_value"] is not None else "–", o["verdict"]))
        elif e.get("unpaired"):
            u = e["unpaired"]
            rows.append((model, _("not paired"), accuracy_with_interval(u["a"]), accuracy_with_interval(u["b"]),
                         _("%(diff)s (no paired CI)") % {"diff": points(u["acc_diff"])}, "–", u["verdict"]))
        else:
            rows.append((model, _("none"), "–", "–", "–", "–", _("nothing to compare")))
    return rows


def format_table(summary: dict, *, lang: str | None = None, digits: str = "native") -> str:
    """The terminal summary: what is compared, the table, what is only in one run, what differs; in `lang`
    (the summary's language, as write_compare was given it), else in the active language."""
    if lang is not None:
        with i18n.activated(i18n.Language(lang, digits)):
            return format_table(summary)
    # "% {}": the messages are the page's, whose %% the template's gettext turns into %.
    head = (_("model"), _("seeds"), _("acc A %%") % {}, _("acc B %%") % {}, _("diff B-A [95 %% CI]") % {}, "p",
            _("verdict"))
    rows = [head, *table_rows(summary)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [f"A: {summary['a']['path']}", f"B: {summary['b']['path']}", summary["test_set"]["sentence"], ""]
    for i, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    m = summary["matched"]
    sep = pgettext("list separator", ", ")
    lines.append("")
    if m["only_a"]:
        lines.append(_("only in A: %(models)s") % {"models": sep.join(m["only_a"])})
    if m["only_b"]:
        lines.append(_("only in B: %(models)s") % {"models": sep.join(m["only_b"])})
    for model, e in summary["models"].items():
        s = e["seeds"]
        if s["only_a"] or s["only_b"]:
            bits = [_("only in A %(seeds)s") % {"seeds": sep.join(map(str, s["only_a"]))} if s["only_a"] else "",
                    _("only in B %(seeds)s") % {"seeds": sep.join(map(str, s["only_b"]))} if s["only_b"] else ""]
            lines.append(_("%(model)s seeds: %(which)s") % {
                "model": model, "which": pgettext("clause separator", "; ").join(x for x in bits if x)})
        for nc in e["not_compared"]:
            lines.append(_("%(model)s seed %(seed)s not compared (%(reason)s)") % {
                "model": model, "seed": nc["seed"], "reason": nc["reason"]})
    lines.append(_("%(sentence)s.") % {"sentence": summary["differences_headline"][:1].upper()
                                       + summary["differences_headline"][1:]})
    return "\n".join(lines)


# ----------------------------------------------------------------------------- HTML and PDF


def render_html(summary: dict, *, lang: i18n.Language | None = None, title: str | None = None,
                summary_name: str = "<out>.summary.json") -> str:
    """The comparison page of a worded summary."""
    lang = lang or current()
    setting_groups: dict[str, list[dict]] = {}
    for r in summary["differences"]["settings"]:
        setting_groups.setdefault(r["what"], []).append(r)
    with i18n.activated(lang):
        title = title or _("Comparison of two benchmark runs")
        conf = percent(lang.plain(100 * CONFIDENCE))
    return outputs.render_page(TEMPLATE, lang, css=outputs.stylesheet(lang, STYLESHEETS), s=summary, title=title,
                               lang=lang.code, dir=lang.direction, setting_groups=setting_groups, conf=conf,
                               alpha=lang.plain(ALPHA), bench_version=__version__, summary_name=summary_name,
                               references=[REFERENCES[k] for k in ("variance_decomposition", "mcnemar_midp",
                                                                   "paired_score_interval", "single_checkpoint_tests")])


def write_compare(run_a: Path, run_b: Path, out: Path = Path("compare.pdf"), *, title: str | None = None,
                  lang: str = "en", digits: str = "native", log=None) -> tuple[dict, list[Path]]:
    """Compare two run directories; write <out>.pdf, <out>.html and <out>.summary.json (bench.render.outputs'
    rule) in `lang`; return the worded summary and the paths written."""
    out = outputs.check_out(out)
    language = i18n.Language(lang, digits)
    data = compare(run_a, run_b)
    with i18n.activated(language):
        summary = worded(data)
    html = render_html(summary, lang=language, title=title, summary_name=outputs.summary_path(out).name)
    return summary, outputs.write_outputs(out, html, summary, log=log)


__all__ = ["format_table", "render_html", "worded", "write_compare"]
