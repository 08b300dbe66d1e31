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
from bench.render.i18n import _, current, pgettext
from bench.render.text import (ci_points, interval_text, method_text, model_title, name_methods, p_value,
                               percent, points)
from bench.results.compare import compare
from bench.results.paired import ALPHA, CONFIDENCE

TEMPLATE = "compare.html.j2"
STYLESHEETS = ("style.css", "compare.css")
METHODS = ("mcnemar", "paired_bootstrap", "t_seeds", "wilson")


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


def seed_words(r: dict, model: str, *, at_seed: bool = True) -> tuple[str, str]:
    """(short verdict, sentence) of one paired seed, B - A."""
    lang = current()
    detail = _("%(diff)s points %(ci)s, McNemar %(p)s") % {
        "diff": points(r["acc_diff"]), "ci": ci_points(r["acc_diff_ci"]), "p": p_value(r["mcnemar"]["p_value"], "p=")}
    names = {"model": lang.isolate(model), "detail": detail,
             "at_seed": _(" at seed %(seed)s") % {"seed": lang.integer(r["seed"])} if at_seed else ""}
    if r["decision"] == "b":
        return _("B more accurate"), _("B is more accurate than A for %(model)s (%(detail)s)%(at_seed)s.") % names
    if r["decision"] == "a":
        return _("A more accurate"), _("A is more accurate than B for %(model)s (%(detail)s)%(at_seed)s.") % names
    ci = r["acc_diff_ci"]
    if r["significant"]:
        why = _(": McNemar p < %(alpha)s but the interval includes 0") % {"alpha": _alpha()}
    elif ci["low"] > 0 or ci["high"] < 0:
        why = _(": the interval excludes 0 but McNemar p ≥ %(alpha)s") % {"alpha": _alpha()}
    else:
        why = ""
    return (_("no difference established"),
            _("No difference established for %(model)s%(why)s (%(detail)s)%(at_seed)s.") % {**names, "why": why})


def overall_words(o: dict, rows: list[dict], model: str) -> tuple[str, str]:
    """(short verdict, sentence) over a model's paired seeds."""
    lang = current()
    n, n_a, n_b = o["n_seeds"], o["n_a_better"], o["n_b_better"]
    if n == 1:
        return seed_words(rows[0], model, at_seed=False)
    detail = _("mean %(diff)s points %(ci)s over %(n)s seeds, t interval; McNemar p < %(alpha)s in %(k)s of %(n)s") % {
        "diff": points(o["mean_acc_diff"]), "ci": ci_points(o["acc_diff_ci"]), "n": lang.integer(n),
        "alpha": _alpha(), "k": lang.integer(o["n_significant"])}
    name = lang.isolate(model)
    if o["decision"] == "b":
        return (_("B more accurate (%(k)s of %(n)s seeds)") % {"k": lang.integer(n_b), "n": lang.integer(n)},
                _("B is more accurate than A for %(model)s: established in %(k)s of %(n)s seeds (%(detail)s).") % {
                    "model": name, "k": lang.integer(n_b), "n": lang.integer(n), "detail": detail})
    if o["decision"] == "a":
        return (_("A more accurate (%(k)s of %(n)s seeds)") % {"k": lang.integer(n_a), "n": lang.integer(n)},
                _("A is more accurate than B for %(model)s: established in %(k)s of %(n)s seeds (%(detail)s).") % {
                    "model": name, "k": lang.integer(n_a), "n": lang.integer(n), "detail": detail})
    return (_("no difference established"),
            _("No difference established for %(model)s over %(n)s seeds: B more accurate in %(b)s, A in %(a)s "
              "(%(detail)s).") % {"model": name, "n": lang.integer(n), "b": lang.integer(n_b),
                                  "a": lang.integer(n_a), "detail": detail})


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
    return _("a difference at one seed is established when the exact McNemar p < %(alpha)s and the %(conf)s %% paired "
             "bootstrap interval of the accuracy difference (B - A) excludes 0 on the same side; over several seeds, "
             "a run is called more accurate when that holds in its favour in more than half of the paired seeds") % {
        "alpha": _alpha(), "conf": current().plain(100 * CONFIDENCE)}


def worded(summary: dict) -> dict:
    """bench.results.compare's data with its words in the active language: what the page prints and
    <out>.summary.json keeps (numbers untouched)."""
    s = copy.deepcopy(summary)
    s["direction"] = _("differences are B minus A (accuracy in points = percentage points)")
    ts = s["test_set"]
    ts["sentence"] = test_set_sentence(ts)
    del ts["differ"], ts["classes_differ"]
    s["methods"] = {k: method_text(k) for k in METHODS}
    s["decision_rule"] = decision_rule()
    for side in ("a", "b"):
        s[side]["titles"] = {m: model_title(t) for m, t in s[side]["titles"].items()}
    for model, e in s["models"].items():
        e["title"] = model_title(e["title"])
        e["not_compared"] = [{"seed": nc["seed"], "reason": not_compared_reason(nc)} for nc in e["not_compared"]]
        for r in e.get("per_seed", []):
            r["verdict"], r["sentence"] = seed_words(r, model)
            r["mcnemar"]["test"] = method_text(r["mcnemar"]["test"])
        if e.get("overall"):
            e["overall"]["verdict"], e["overall"]["sentence"] = overall_words(e["overall"], e["per_seed"], model)
        elif "overall" in e:
            e["sentence"] = _("%(model)s: no seed finished in both runs; nothing to compare.") % {
                "model": current().isolate(model)}
        if "unpaired" in e:
            side = e.pop("missing_side")
            if e["unpaired"]:
                e["unpaired"]["verdict"], e["unpaired"]["sentence"] = unpaired_words(e["unpaired"], model)
            else:
                e["sentence"] = _("%(model)s: no complete seed in %(side)s; nothing to compare.") % {
                    "model": current().isolate(model), "side": side}
    name_methods(s["models"])
    s["differences_headline"] = differences_headline(s)
    return s


# ----------------------------------------------------------------------------- terminal


def table_rows(summary: dict) -> list[tuple[str, ...]]:
    lang = current()
    rows = []
    for model, e in summary["models"].items():
        if e.get("per_seed"):
            per_seed, o = e["per_seed"], e["overall"]
            if len(per_seed) > 1:
                for r in per_seed:
                    rows.append((model, lang.integer(r["seed"]), lang.format(100 * r["accuracy_a"], ".2f"),
                                 lang.format(100 * r["accuracy_b"], ".2f"),
                                 f"{points(r['acc_diff'])} {ci_points(r['acc_diff_ci'])}",
                                 p_value(r["mcnemar"]["p_value"]), r["verdict"]))
            seeds = ",".join(lang.integer(r["seed"]) for r in per_seed)
            p = (p_value(per_seed[0]["mcnemar"]["p_value"]) if len(per_seed) == 1 else
                 _("%(k)s/%(n)s < %(alpha)s") % {"k": lang.integer(o["n_significant"]),
                                                 "n": lang.integer(o["n_seeds"]), "alpha": _alpha()})
            rows.append((model if len(per_seed) == 1 else _("%(model)s (mean)") % {"model": model}, seeds,
                         lang.format(100 * o["mean_accuracy_a"], ".2f"), lang.format(100 * o["mean_accuracy_b"], ".2f"),
                         f"{points(o['mean_acc_diff'])} {ci_points(o['acc_diff_ci'])}", p, o["verdict"]))
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
    head = (_("model"), _("seeds paired"), _("acc A %%") % {}, _("acc B %%") % {}, _("diff B-A [95 %% CI]") % {}, "p",
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
                               alpha=lang.plain(ALPHA), bench_version=__version__, summary_name=summary_name)


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
