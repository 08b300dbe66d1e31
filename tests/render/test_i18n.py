"""The report in other languages (bench/i18n.py, report_templates/locale): every message translated,
numbers in the language's digits, right-to-left markup, and English untouched by the option.

Rendering here is HTML only (build_context + render_html); the Persian PDF is rendered once, by
tests/test_layout.py, which also checks its text and layout.
"""

from __future__ import annotations

import importlib
import json
import re

import pytest

from bench.render import i18n as i18n

from bench.render import report as report
from bench.render import facts, outputs, text, verdicts
from test_report import fake_run, text_of

pytest.importorskip("babel")

FA = "fa"


@pytest.fixture(scope="module")
def catalogue():
    from babel.messages.pofile import read_po

    with open(i18n.po_path(FA), "rb") as fh:
        return read_po(fh, locale=FA, domain=i18n.DOMAIN)


def _key(message):
    return message.context, message.id if isinstance(message.id, str) else message.id[0]


def test_every_message_has_a_persian_translation(catalogue):
    """Each message of the templates and of the Python that writes sentences, as Babel's extractors find
    it, has a non-empty, non-fuzzy msgstr in fa (every plural form)."""
    extracted = i18n.extract_messages()
    assert len(extracted) > 400  # the templates' (report and compare) and bench.render's messages
    translated = {_key(m): m for m in catalogue if m.id and not m.fuzzy}
    missing = []
    for m in extracted:
        if not m.id:
            continue
        t = translated.get(_key(m))
        strings = () if t is None else (t.string if isinstance(t.string, tuple) else (t.string,))
        if not strings or not all(s and s.strip() for s in strings):
            missing.append(_key(m))
    assert not missing, f"{len(missing)} messages without a Persian translation: {missing[:10]}"


def test_translations_keep_their_placeholders(catalogue):
    errors = [(m.id, [str(e) for e in errs]) for m, errs in catalogue.check()]
    assert not errors, errors[:5]
    for m in catalogue:
        if not m.id or not m.string:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = set(re.findall(r"%\(\w+\)s", ids[-1]))
        for s in strings:
            assert set(re.findall(r"%\(\w+\)s", s)) <= wanted, (m.id, s)
            assert s.count("<") == ids[-1].count("<"), ("markup differs", m.id, s)


def test_catalogue_is_read_at_run_time_with_persian_plurals():
    lang = i18n.Language(FA)
    assert lang.direction == "rtl" and lang.counter_style == "persian"
    assert lang.gettext("Summary") == "خلاصه"
    # Nouns after numbers stay singular in Persian: one form for 1 and for 3.
    one = lang.ngettext("%(n)s training image", "%(n)s training images", 1) % {"n": lang.integer(1)}
    three = lang.ngettext("%(n)s training image", "%(n)s training images", 3) % {"n": lang.integer(3)}
    assert (one, three) == ("۱ تصویر آموزش", "۳ تصویر آموزش")
    assert i18n.languages()[:1] == ("en",) and FA in i18n.languages()
    with pytest.raises(i18n.BenchError, match="unknown report language"):
        i18n.Language("xx")


def test_builtin_texts_match_their_sources():
    """Titles, descriptions and notes of the built-in models come from bench/models.py and protocol.py;
    report.py marks copies for the catalogue. They must not drift apart, and each is translated."""
    from bench.models.registry import _REGISTRY, get_entry  # noqa: F401  (registers the built-in models)
    from bench.protocol import STUDY

    get_entry("mlp")
    sources = [text for name in ("mlp", "cnn", "cnn_bn", "vgg16")
               for text in (_REGISTRY[name].title, _REGISTRY[name].description)]
    sources += [spec.note for spec in STUDY.values() if spec.note]
    assert set(sources) <= set(report.BUILTIN_TEXTS)
    from conftest import CLASSES

    assert tuple(CLASSES) == report.CIFAR10_CLASSES
    import inspect

    import pkgutil

    import bench.models

    sources = "".join(inspect.getsource(importlib.import_module(f"bench.models.{m.name}"))
                      for m in pkgutil.iter_modules(bench.models.__path__))
    assert facts.NO_WEIGHTS in sources
    with i18n.activated(i18n.Language(FA)):
        for message in (*report.BUILTIN_TEXTS, *report.CIFAR10_CLASSES):
            if message not in ("MLP", "CNN", "CNN + BN + Dropout"):  # names that stay Latin
                assert text.recorded_text(message) != message, message


def test_numbers_in_persian_and_in_latin_digits():
    fa, latin, en = i18n.Language(FA), i18n.Language(FA, "latin"), i18n.Language()
    assert fa.format(1234567.891, ",.2f") == "۱٬۲۳۴٬۵۶۷٫۸۹"
    assert latin.format(1234567.891, ",.2f") == "1,234,567.89"
    assert en.format(1234567.891, ",.2f") == "1,234,567.89"
    # A signed number is one left-to-right unit, with the minus sign U+2212 on its left.
    assert fa.format(-9.87, "+.1f") == "\u2066−۹٫۹\u2069" and fa.format(0.5, "+.1f") == "\u2066+۰٫۵\u2069"
    assert en.format(-9.87, "+.1f") == "\u22129.9"  # U+2212 minus in English (issue 22)
    assert fa.plain(1e-5) == "۰٫۰۰۰۰۱" and en.plain(1e-5) == "1e-05" and fa.plain(0.1) == "۰٫۱"
    assert fa.integer(45000) == "۴۵۰۰۰" and fa.digits_only("32×32") == "۳۲×۳۲"
    assert fa.isolate("MLP") == "\u2066MLP\u2069" and fa.isolate("یادگیری VGG16")[0] == "\u2067"
    assert en.isolate("MLP") == "MLP" and en.ltr("a") == "a"
    with i18n.activated(fa):
        assert text.percent(fa.format(52.04, ".1f")) == "۵۲٫۰٪"
        assert text.interval_text("۱", "۲") == "\u2066[۱، ۲]\u2069"  # one left-to-right unit (issue 22)
        assert text.duration(150) == "۲٫۵\u00a0دقیقه"  # a number never leaves its unit
        assert i18n.strip_bidi(text.p_value(0.0004, "p")) == "p < ۰٫۰۰۱"
    with i18n.activated(latin):
        assert text.percent(latin.format(52.04, ".1f")) == "52.0٪"


@pytest.fixture(scope="module")
def persian(tmp_path_factory):
    """A full-protocol run written by hand, rendered in Persian and in Persian with Latin digits."""
    arts = fake_run(tmp_path_factory.mktemp("fa"), models=("mlp", "cnn", "vgg16"), seeds=(0, 1, 2))
    summary = report.analyse(arts)
    out = {"summary": summary, "arts": arts}
    for key, lang in (("fa", i18n.Language(FA)), ("latin", i18n.Language(FA, "latin"))):
        with i18n.activated(lang):
            out[key] = report.render_html(report.build_context(arts, summary, title=None, author="",
                                                               affiliation="", data_dir=None))
    return out


def _visible_text(html: str) -> str:
    """What a reader sees, less what stays Latin on purpose: code and other dir="ltr" elements, and
    the words (Latin names, identifiers such as VGG16, CIFAR-10, SHA-256) that carry Latin letters."""
    html = re.sub(r'<(code|span|td|th)[^>]*dir="ltr"[^>]*>.*?</\1>', " ", html, flags=re.S)
    previous = None
    while previous != html:  # left-to-right isolates as elements (nested: innermost first)
        previous = html
        html = re.sub(r'<bdi dir="ltr"[^>]*>((?:[^<]|<(?!/?bdi)[^>]*>)*)</bdi>', " ", html)
    html = re.sub(r"\u2066[^\u2069]*\u2069", " ", html)  # left-to-right isolates: code, versions, paths
    text = i18n.strip_bidi(text_of(html))
    return " ".join(w for w in text.split() if not re.search(r"[A-Za-z]", w))


@pytest.mark.slow
def test_persian_report_is_right_to_left_in_persian_digits(persian):
    html = persian["fa"]
    assert re.search(r'<html lang="fa" dir="rtl">', html)
    text = text_of(html)
    for heading in ("نتایج", "فهرست مطالب", "۱. چیدمان آزمایش", "مقایسه", "رتبه‌بندی", "کالیبراسیون",
                    "(الف) چرا یادگیری انتقالی سودمند است", "(ت) چرا آنتروپی متقاطع", "پیوست", "فایل‌های خروجی"):
        assert heading in i18n.strip_bidi(text), heading
    # No English sentence is left: the longest English messages do not appear.
    for english in ("This report evaluates", "Test accuracy", "Why transfer learning helps", "Per-class test",
                    "Most confused pairs", "not like-for-like", "Every pair of models"):
        assert english not in text, english
    # Numbers in Persian digits and separators; no Latin digit outside names, code and identifiers.
    visible = _visible_text(html)
    assert not re.findall(r"[0-9]", visible), re.findall(r".{20}[0-9].{20}", visible)[:5]
    assert "۴۵٬۰۰۰" in visible and "۸۰٫۰٪" in visible
    # Model names, code and hashes stay Latin and left to right, inside isolates or dir="ltr" elements.
    assert '<bdi dir="ltr" class="ltr nb">MLP</bdi>' in html  # in the text an element (kept on one line)
    assert 'alt="منحنی‌های یادگیری \u2066MLP\u2069"' in html  # in an attribute Unicode isolates
    assert '<code dir="ltr" class="command"><span class="arg">bench</span> ' in html
    assert '<span class="mono small" dir="ltr">SHA-256 ' in html
    assert '<bdi dir="rtl">یادگیری انتقالی <bdi dir="ltr" class="ltr nb">VGG16</bdi></bdi>' in html
    # The shipped font is embedded in the HTML (self-contained) and named first.
    assert "@font-face" in html and 'font-family: "Vazirmatn"' in html and 'src="http' not in html
    assert "counter(page, persian)" in html


@pytest.mark.slow
def test_latin_digits_on_request(persian):
    html = persian["latin"]
    visible = _visible_text(html)
    assert not re.findall(r"[۰-۹]", text_of(html))
    assert "45,000" in visible and "80.0٪" in visible and "نتایج" in visible
    assert "counter(page, decimal)" in html


def test_isolates_are_elements_in_text_and_controls_in_attributes(persian):
    """Every sentence, from a template or built in Python (verdicts, facts, names), prints its isolates as
    <bdi> elements (style-rtl.css keeps them on one line); attributes and <title> keep Unicode isolates."""
    html = re.sub(r"<style>.*?</style>", "", persian["fa"], flags=re.S)
    tags = re.findall(r"<[^>]*>", html)
    assert tags and not [t for t in tags if "<bdi" in t[1:]], [t for t in tags if "<bdi" in t[1:]][:3]
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert "<" not in title and "\u2066CIFAR-10\u2069" in title
    text = re.sub(r"<[^>]*>", "", html.split("<body", 1)[1])
    stray = [m.start() for m in re.finditer("[\u2066-\u2069]", text)]
    assert not stray, [text[max(0, i - 40):i + 20] for i in stray[:3]]
    assert html.count('<bdi dir="ltr" class="ltr nb">') > 50


def test_persian_sentences_agree_in_number_and_follow_the_results(persian):
    text = " ".join(i18n.strip_bidi(text_of(persian["fa"])).split())
    # page 1: a singular noun after a number, the run's sizes, epochs and seeds in Persian digits
    assert "این گزارش ۳ طبقه‌بند CIFAR-10" in text
    assert "پس از آموزش روی ۴۵٬۰۰۰ تصویر به مدت ۱۰–۴۰ دوره (بذرهای ۰، ۱، ۲)" in text
    # three seeds a model: the configuration-level test over seeds and test images, Holm-adjusted
    assert ("MLP به‌تنهایی رتبهٔ نخست را دارد: آزمون‌های روی اجراهای آموزش، با تصحیح هولم، آن را بالاتر از همهٔ "
            "مدل‌های دیگر می‌نشانند.") in text
    assert "تصحیح گام‌به‌گام هولم" in text  # the methods section names Holm


def _numbers(obj):
    """Every number and key of a summary, without its words."""
    if isinstance(obj, dict):
        return {k: _numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    return None if isinstance(obj, str) else obj


@pytest.mark.slow
def test_summary_json_has_the_same_numbers_in_every_language_and_the_words_of_its_report(persian):
    """The words are made once, at render time, in the report's language; the numbers never change."""
    summary = persian["summary"]
    en = verdicts.worded_summary(summary)
    with i18n.activated(i18n.Language(FA)):
        fa = verdicts.worded_summary(summary)
    assert json.dumps(fa, sort_keys=True) != json.dumps(en, sort_keys=True)
    assert _numbers(fa) == _numbers(en)
    assert i18n.strip_bidi(fa["models"]["vgg16"]["title"]) == "یادگیری انتقالی VGG16" and en["models"]["vgg16"]["title"] == \
        "VGG16 transfer"
    assert "Student t" in en["methods"]["t_seeds"] and "Student t" not in fa["methods"]["t_seeds"]
    assert summary == report.analyse(persian["arts"])  # wording leaves analyse()'s data as it was


@pytest.mark.slow
def test_lang_en_is_byte_identical_to_no_lang(tiny_run, tmp_path, monkeypatch):
    """`--lang en` and no --lang write the same bytes (HTML and summary; the PDF is made from that HTML)."""
    monkeypatch.setattr(outputs, "render_pdf", lambda html, **kw: html.encode())
    # One file name in two folders: the page names its own PDF (the evidence it embeds).
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    default = report.render_report(tiny_run, tmp_path / "a" / "r.pdf")
    english = report.render_report(tiny_run, tmp_path / "b" / "r.pdf", lang="en", digits="latin")
    for a, b in zip(default, english):
        assert a.read_bytes() == b.read_bytes(), a.name


@pytest.mark.slow
def test_cli_writes_the_persian_report_beside_its_summary(tiny_run, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from bench.cli import cli

    monkeypatch.setattr(outputs, "render_pdf", lambda html, **kw: b"%PDF-1.7 " + html[:15].encode())
    out = tmp_path / "report-fa.pdf"
    result = CliRunner().invoke(cli, ["report", str(tiny_run), "--lang", "fa", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report-fa.html", "report-fa.pdf",
                                                          "report-fa.summary.json"]
    assert out.with_suffix(".html").read_text().startswith('<!doctype html>\n<html lang="fa" dir="rtl">')
    result = CliRunner().invoke(cli, ["report", str(tiny_run), "--lang", "xx", "--out", str(out)])
    assert result.exit_code != 0
