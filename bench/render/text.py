"""Words, in the active language (bench.render.i18n): every formatter, and the sentences the run's numbers need.

The numbers come from bench.results (plain data); this module writes them as the reader sees them:
numbers, percentages, intervals, p-values, durations and dates in the language's digits, and the
sentences of the report's summary (methods, verdicts, departures), made once, at render time.
`worded_summary` turns analyse()'s data into the summary that the report prints and saves.
"""

from __future__ import annotations

import datetime as dt
import re

from bench.render.i18n import LRI, N_, NOBREAK_CHARS, PDI, RLI, FSI, _, current, ngettext, pgettext
from bench.results import stats

# The joint of a number and its unit ("10.0 %", "3.2 s") and a short name never break across lines:
# their spaces are no-break spaces (U+00A0), which WeasyPrint, browsers and the PDF's text all keep as spaces.
NBSP = "\u00a0"

# How an interval or test was computed; the summaries record the key, the reader reads the text.
METHOD_TEXTS = {
    "wilson": N_("Wilson score interval over test images"),
    "bootstrap": N_("percentile bootstrap over test images, %(resamples)s resamples, seed %(seed)s"),
    "paired_bootstrap": N_("paired percentile bootstrap over test images, %(resamples)s resamples, seed %(seed)s"),
    "t_seeds": N_("Student t interval over seeds (n - %(one)s degrees of freedom, clipped to the metric's range)"),
    "mcnemar": N_("exact McNemar test (two-sided binomial test on the discordant pairs)"),
    "reference_diff": N_("this run's accuracy interval minus the reference study's published accuracy"),
    # bench.results.inference's procedures (issue 21)
    "t_seeds_plus_test_set": N_("Student t interval over seeds whose variance adds the test set's sampling "
                                "variance (Satterthwaite degrees of freedom, clipped to the metric's range)"),
    "welch_t_seeds_plus_test_set": N_("Welch t test over training runs (seeds) whose variance adds the test set's "
                                      "sampling variance (Satterthwaite degrees of freedom)"),
    "paired_t_seeds_plus_test_set": N_("paired t test over the seeds both ran, whose variance adds the test set's "
                                       "sampling variance (Satterthwaite degrees of freedom)"),
    "mcnemar_midp_tango_score": N_("mid-p McNemar test with Tango's score interval, over test images: about two "
                                   "trained networks, not about their models"),
    "percentile_bootstrap_over_images": N_("percentile bootstrap over test images, %(resamples)s resamples, seed "
                                           "%(seed)s"),
    "noncentral_t_welch_seeds_plus_test_set": N_("power of the Welch test over seeds (noncentral t)"),
    "run_interval_minus_reference_taken_as_exact": N_("this run's interval minus the published number, taken as "
                                                      "exact"),
    "holm": N_("Holm's step-down adjustment over every pairwise comparison of models in this report"),
}
# Spec fields and builder settings a departure may name.
SETTING_LABELS = {"optimizer": N_("optimizer"), "weight_decay": N_("weight decay"), "momentum": N_("SGD momentum"),
                  "batch_size": N_("batch size"),
                  "backbone_lr_scale": N_("learning-rate factor of the tuned pretrained layers"),
                  "augment": N_("training augmentation")}
OPTIMIZER_NAMES = {"sgd": "SGD", "adam": "Adam"}


# ----------------------------------------------------------------------------- formatters


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def num(value) -> str:
    """A protocol number as written by hand: 0.1, 0.0005, 1e-05 (in the language's digits)."""
    return current().plain(value)


def count(n: int) -> str:
    """A count with thousands separators: 45,000 (٤٥٬٠٠٠ in Persian digits)."""
    return current().format(int(n), ",")


def join(items) -> str:
    return current().join(items)


def unbroken(text):
    """`text` (a number with its unit, a short name) on one line: its spaces no-break spaces. Longer
    texts (over i18n.NOBREAK_CHARS) and markup are left as they are; an isolate stays an isolate."""
    s = str(text)
    if " " not in s or "<" in s or len(s) > NOBREAK_CHARS:
        return text
    return type(text)(s.replace(" ", NBSP)) if isinstance(text, str) else s.replace(" ", NBSP)


def titles(names) -> str:
    """Model names listed in a sentence, each kept whole (one line; one isolate in right-to-left text)."""
    lang = current()
    return lang.join(unbroken(lang.isolate(t)) for t in names)


def percent(number: str, *, space: bool = True) -> str:
    """A formatted number with the language's percent sign: '52.0 %' (English, a no-break space), '۵۲٫۰٪'."""
    return unbroken((pgettext("percent", "%(number)s %%") if space else pgettext("percent, compact", "%(number)s%%"))
                    % {"number": number})


def interval_text(low: str, high: str) -> str:
    """An interval of two formatted numbers: '[51.0, 53.0]'."""
    return pgettext("interval", "[%(low)s, %(high)s]") % {"low": low, "high": high}


def signed(value: float, digits: int = 1) -> str:
    """'+1.2' or '−1.2': the minus sign is the language's (U+2212 in English), by i18n.Language.number."""
    return current().format(value, f"+.{digits}f")


def points(value: float, digits: int = 2) -> str:
    """A difference of two fractions in signed percentage points: '+1.20'."""
    return signed(100 * value, digits)


def ci_points(ci: dict | None, digits: int = 2) -> str:
    """An interval of a difference in signed percentage points: '[-0.40, +2.10]'."""
    if not ci:
        return ""
    return interval_text(points(ci["low"], digits), points(ci["high"], digits))


def recorded_value(value) -> str:
    """A value of a run's records as printed: strings as they are, the rest as compact JSON."""
    import json

    if value is None:
        return _("(not recorded)")
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def p_value(p: float, form: str = "cell") -> str:
    """A p-value, in one of the forms a page prints it in.

    "cell": '< 0.001' or '0.123' (a table column headed p); "relation": '< 0.001' or '= 0.123' (after a
    'p' the sentence writes itself); "p": 'p < 0.001' or 'p 0.123'; "p=": 'p < 0.001' or 'p = 0.123'
    (the last two one left-to-right unit in any language).
    """
    lang = current()
    small = p < 0.001
    bound = lang.format(0.001, ".3f")
    if form == "cell":
        return lang.ltr("< " + bound) if small else lang.format(p, ".3f")
    if form == "relation":
        return "< " + bound if small else "= " + lang.format(p, ".3f")
    if form in ("p", "p="):
        text = "p < " + bound if small else "p " + ("= " if form == "p=" else "") + lang.format(p, ".3f")
        return lang.ltr(text)
    raise ValueError(f"p-value form must be one of cell, relation, p, p=; got {form!r}")


def duration(seconds) -> str:
    lang = current()
    seconds = float(seconds or 0)
    if seconds < 120:
        return unbroken(_("%(n)s s") % {"n": lang.format(seconds, ".1f")})
    if seconds < 7200:
        return unbroken(_("%(n)s min") % {"n": lang.format(seconds / 60, ".1f")})
    return unbroken(_("%(n)s h") % {"n": lang.format(seconds / 3600, ".2f")})


def square(side: int) -> str:
    """'64×64' in the active language's digits."""
    return current().digits_only(f"{side}×{side}")


def parse_time(stamp) -> dt.datetime | None:
    """A recorded ISO timestamp, in UTC where it names a zone; None when it cannot be read."""
    try:
        when = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return when


def iso_date(stamp) -> str | None:
    """'2025-03-04': the day of a recorded timestamp."""
    if not stamp:
        return None
    when = parse_time(stamp)
    return when.strftime("%Y-%m-%d") if when else None


def iso_time(stamp) -> str | None:
    """'2025-03-04 05:06:07 UTC'; an unreadable timestamp as recorded."""
    if not stamp:
        return None
    when = parse_time(stamp)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else str(stamp)


def time_text(text: str | None) -> str | None:
    """A timestamp as printed: its digits in the language's, kept left to right."""
    lang = current()
    return lang.ltr(lang.digits_only(text)) if text else text


def long_date(iso: str | None) -> str:
    """The title's date: ISO in English; elsewhere the language's long form (Babel, Gregorian), and in
    Persian the Solar Hijri date first with the Gregorian beside it: ۱۱ آذر ۱۴۰۵ (۲ دسامبر ۲۰۲۶).
    The Solar Hijri date is jdatetime's (the arithmetic Jalali calendar, exact for 1178-1633 SH)."""
    lang = current()
    if not iso or lang.english:
        return iso or ""
    from babel.dates import format_date

    day = dt.date.fromisoformat(iso)
    gregorian = lang.digits_only(format_date(day, "long", locale=lang.code))
    if lang.code != "fa":
        return gregorian
    try:
        import jdatetime
    except ImportError:  # an environment installed before jdatetime became a dependency
        return gregorian
    solar = jdatetime.date.fromgregorian(date=day)
    months = jdatetime.date.j_months_fa
    solar_text = lang.digits_only(f"{solar.day} {months[solar.month - 1]} {solar.year}")
    return f"{solar_text} ({gregorian})"


def split_name(split: str) -> str:
    names = {"train": pgettext("split", "train"), "val": pgettext("split", "val"), "test": pgettext("split", "test")}
    return names.get(split) or current().isolate(split)


def status_name(status: str) -> str:
    names = {"complete": pgettext("status", "complete"), "diverged": pgettext("status", "diverged"),
             "incomplete": pgettext("status", "incomplete")}
    return names.get(status) or current().ltr(status)


def recorded_text(text: str) -> str:
    """A text from the run's records (title, description, note) in the active language: the catalogue's
    translation where it has one (built-in models), else as recorded; digits in the language's digits."""
    if not text:
        return text
    lang = current()
    translated = lang.gettext(text)
    if translated == text or lang.english:
        return text
    # Numbers in the language's digits; digits of identifiers (conv3x3, VGG16, Dropout(0.5)) stay as written, and
    # so does everything the translator isolated (an architecture chain "3072-256-128-10" is code: Latin digits,
    # left to right, by the report's convention).
    number = re.compile(r"(?<![A-Za-z.\d])(?<![A-Za-z]\()\d+(?:\.\d+)?(?![A-Za-z\d])")
    pieces = re.split(f"([{LRI}{RLI}{FSI}][^{PDI}]*{PDI})", translated)
    out = "".join(piece if piece[:1] in (LRI, RLI, FSI) else number.sub(lambda m: lang.number(m.group()), piece)
                  for piece in pieces)
    return type(translated)(out) if isinstance(translated, str) and type(translated) is not str else out


def model_title(title: str) -> str:
    """A model's title in the active language: the catalogue's for built-in models, else as recorded."""
    return current().gettext(title) if title else title


# ----------------------------------------------------------------------------- methods and verdicts


def method_text(key: str, resamples: int | None = None) -> str:
    """How an interval or test was computed, in the active language (`resamples`: the run's bootstrap count)."""
    lang = current()
    return lang.gettext(METHOD_TEXTS[key]) % {"resamples": count(resamples or stats.N_RESAMPLES),
                                               "seed": lang.integer(stats.BOOTSTRAP_SEED), "one": lang.integer(1)}


# ----------------------------------------------------------------------------- departures


def phases_text(phases: list[dict]) -> str:
    lang = current()
    return pgettext("list separator", ", ").join(
        _("%(epochs)s at %(lr)s") % {"epochs": lang.integer(p["epochs"]), "lr": lang.plain(float(p["lr"]))}
        for p in phases)


def pipeline_name(value: str) -> str:
    """An input pipeline's name (bench.config.Pipeline) as a word of the active language; an unknown one as code."""
    names = {"fast": pgettext("input pipeline", "fast"), "torchvision": pgettext("input pipeline", "torchvision")}
    return names.get(value) or current().ltr(value)


def compile_text(mode: str | None) -> str:
    """Whether and how the run used torch.compile (bench.config.CompileMode): "without torch.compile", or the
    mode; option values are code, "default" a word."""
    lang = current()
    tool = lang.ltr("torch.compile")
    if not mode or mode == "none":
        return _("without %(compile)s") % {"compile": tool}
    shown = pgettext("compile mode", "default") if mode == "default" else lang.ltr(mode)
    return _("%(compile)s, mode %(mode)s") % {"compile": tool, "mode": shown}


def setting_value(value) -> str:
    lang = current()
    if isinstance(value, bool):
        return _("on") if value else _("off")
    if isinstance(value, (int, float)):
        return lang.plain(value)
    return lang.isolate(OPTIMIZER_NAMES.get(value, str(value)))


def departure_text(d: dict) -> str:
    """A departure record (bench.results.departures) as a sentence fragment without the model's name."""
    lang = current()
    what, study, run = d["what"], d["study"], d["run"]
    if what == "profile":
        return _("the %(profile)s profile, not the full protocol") % {"profile": lang.isolate(run)}
    if what == "data_sizes":
        return _("%(train)s training / %(val)s validation / %(test)s test images instead of "
                 "%(study_train)s / %(study_val)s / %(study_test)s") % {
            "train": count(run["train"]), "val": count(run["val"]), "test": count(run["test"]),
            "study_train": count(study["train"]), "study_val": count(study["val"]), "study_test": count(study["test"])}
    if what == "pipeline":
        return _("the %(pipeline)s input pipeline instead of the default %(default)s one") % {
            "pipeline": pipeline_name(run), "default": pipeline_name(study)}
    if what == "phases":
        epochs = sum(p["epochs"] for p in run)
        return ngettext("%(n)s epoch in learning-rate phases of %(phases)s instead of the full protocol's "
                        "%(study)s (%(study_phases)s)",
                        "%(n)s epochs in learning-rate phases of %(phases)s instead of the full protocol's "
                        "%(study)s (%(study_phases)s)", epochs) % {
            "n": count(epochs), "phases": phases_text(run),
            "study": lang.integer(sum(p["epochs"] for p in study)), "study_phases": phases_text(study)}
    if what == "image_size":
        return _("inputs upsampled to %(size)s pixels instead of %(study)s") % {
            "size": square(run), "study": square(study)}
    if what == "frozen_blocks":
        return ngettext("%(n)s frozen convolutional block instead of %(study)s",
                        "%(n)s frozen convolutional blocks instead of %(study)s", run) % {
            "n": count(run), "study": lang.integer(study)}
    if what == "pretraining":
        return _("no pretrained weights (random initialisation) instead of ImageNet's")
    label = _(SETTING_LABELS[what]) if what in SETTING_LABELS else lang.ltr(what)
    return _("%(setting)s %(run)s instead of %(study)s") % {
        "setting": label, "run": setting_value(run), "study": setting_value(study)}


def departure_items(items: list[dict], names: dict[str, str]) -> list[dict]:
    """Merged departure records with their text and their sentence, naming the models they concern."""
    out = []
    for d in items:
        text = departure_text(d)
        prefix = "" if d["all_models"] else _("%(models)s: ") % {"models": pgettext("list separator", ", ").join(
            current().isolate(names.get(m, m)) for m in d["models"])}
        out.append(d | {"text": text, "sentence": _("%(sentence)s.") % {"sentence": capitalised(prefix + text)}})
    return out


def departure_headline(facts: dict | None) -> str | None:
    """The departures banner's headline (bench.results.departures.headline_facts)."""
    if facts is None:
        return None
    lang = current()
    sep = pgettext("list separator", ", ")
    parts = []
    profile = facts["profile"]
    if profile:
        parts.append(capitalised(_("%(profile)s profile") % {"profile": lang.isolate(profile)}))
    if facts["train_images"] is not None:
        n = facts["train_images"]
        parts.append(ngettext("%(n)s training image", "%(n)s training images", n) % {"n": count(n)})
    if facts["epochs_per_phase"] is not None:
        n = facts["epochs_per_phase"]
        parts.append(ngettext("%(n)s epoch per learning-rate phase", "%(n)s epochs per learning-rate phase", n)
                     % {"n": count(n)})
    elif facts["epochs_per_model"] is not None:
        low, high = facts["epochs_per_model"]
        span = lang.integer(low) if low == high else f"{lang.integer(low)}–{lang.integer(high)}"
        parts.append(ngettext("%(n)s epoch per model", "%(n)s epochs per model", high) % {"n": span})
    if facts["others"]:
        parts.append(_("other settings listed below") if parts else _("settings listed below"))
    if profile:
        lead = parts[0] if len(parts) == 1 else _("%(first)s: %(rest)s") % {"first": parts[0],
                                                                          "rest": sep.join(parts[1:])}
    else:
        lead = _("Changed protocol: %(changes)s") % {"changes": sep.join(parts)}
    return _("%(lead)s; not comparable like-for-like with the reference study") % {"lead": lead}


# ----------------------------------------------------------------------------- the report's summary


def name_methods(obj) -> None:
    """Every interval's method key, in place, replaced by its text."""
    if isinstance(obj, dict):
        if "low" in obj and obj.get("method") in METHOD_TEXTS:
            obj["method"] = method_text(obj["method"])
        for v in obj.values():
            name_methods(v)
    elif isinstance(obj, list):
        for v in obj:
            name_methods(v)
