"""Every translation of every catalogue renders (report_templates/locale/*/LC_MESSAGES/bench.po): its
placeholders are the msgid's, each plural form exists and renders for n = 0, 1, 2, 5, it is a valid
Python %-format, and its markup (HTML tags and the translator's left-to-right isolates) is balanced.
The catalogue's Latin runs are isolates: a Latin word inside Persian text is one left-to-right unit."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from bench.render import i18n

pytest.importorskip("babel")

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
VOID = {"br", "img", "meta", "hr", "wbr"}


def catalogues():
    from babel.messages.pofile import read_po

    out = []
    for code in i18n.languages()[1:]:
        with open(i18n.po_path(code), "rb") as fh:
            out.append((code, read_po(fh, locale=code, domain=i18n.DOMAIN)))
    return out


def translated(catalog):
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if any(strings):
            yield m, ids, strings


def sample_values(names):
    return {name: f"<{name}>" for name in names}


class Balance(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def balanced(text: str) -> bool:
    depth = 0
    for ch in text:  # the translator's isolates: LRI/RLI/FSI ... PDI, never crossing
        if ch in (i18n.LRI, i18n.RLI, i18n.FSI):
            depth += 1
        elif ch == i18n.PDI:
            depth -= 1
            if depth < 0:
                return False
    if depth:
        return False
    parser = Balance()
    parser.feed(re.sub(PLACEHOLDER, "x", text))
    parser.close()
    return not parser.errors and not parser.stack


@pytest.mark.parametrize("code,catalog", catalogues(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_translation_renders(code, catalog):
    problems = []
    for m, ids, strings in translated(catalog):
        wanted = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        # Every form names what both English forms name; a plural form may add what only the plural names.
        required = set(PLACEHOLDER.findall(ids[-1])) & set(PLACEHOLDER.findall(ids[0])) - {"num"}
        if isinstance(m.id, tuple):
            forms = catalog.num_plurals
            if len(strings) != forms or not all(s.strip() for s in strings):
                problems.append(("plural forms", m.id, len(strings), forms))
                continue
        for s in strings:
            got = set(PLACEHOLDER.findall(s))
            if not required <= got <= wanted:
                problems.append(("placeholders", m.id, sorted(wanted), sorted(got)))
            try:
                s % sample_values(wanted | got)
            except (KeyError, ValueError, TypeError) as exc:
                problems.append(("python-format", m.id, str(exc)))
                continue
            if not balanced(s):
                problems.append(("markup", m.id, s))
        if isinstance(m.id, tuple):  # each form, as gettext picks it, renders for these counts
            lang = i18n.Language(code)
            for n in (0, 1, 2, 5):
                s = lang.ngettext(ids[0], ids[1], n)
                try:
                    s % sample_values(wanted)
                except (KeyError, ValueError, TypeError) as exc:
                    problems.append(("plural render", m.id, n, str(exc)))
    assert not problems, f"{len(problems)} messages do not render: {problems[:8]}"


@pytest.mark.parametrize("code,catalog", catalogues(), ids=lambda v: v if isinstance(v, str) else "")
def test_latin_inside_right_to_left_text_is_isolated(code, catalog):
    """In a right-to-left catalogue, a Latin word or an architecture chain in the translator's text is a
    left-to-right isolate (placeholders and tags excepted), so it cannot reorder the sentence around it."""
    if not i18n.Language(code).rtl:
        pytest.skip("left-to-right language")
    token = re.compile(r"<[^>]*>|%\(\w+\)s|%%|\u2066[^\u2069]*\u2069")
    bare = []
    for m, ids, strings in translated(catalog):
        for s in strings:
            if not re.search("[\u0600-\u06ff]", s):
                continue
            rest = token.sub(" ", s)
            if re.search(r"[A-Za-z]|\d+(?:-\d+){2,}", rest):
                bare.append((m.id, s))
    assert not bare, bare[:5]


def test_isolates_are_markup_in_html_and_text_elsewhere():
    import markupsafe

    fa = i18n.Language("fa")
    name = fa.isolate("CNN + BN + <Dropout>")
    assert str(name) == "\u2066CNN + BN + <Dropout>\u2069"  # text: sentences, JSON, matplotlib
    assert "%s" % name == str(name) and fa.isolate_text("a") == "\u2066a\u2069"
    assert markupsafe.escape(name) == '<bdi dir="ltr" class="ltr nb">CNN + BN + &lt;Dropout&gt;</bdi>'
    assert fa.isolate_html("دقت") == '<bdi dir="rtl">دقت</bdi>'
    assert markupsafe.escape(fa.format(-2.3, "+.1f")) == '<bdi dir="ltr" class="ltr nb">−۲٫۳</bdi>'
    long = fa.ltr("bench train mlp cnn --profile smoke --seeds 2 --artifacts /work/runs/s2")
    assert markupsafe.escape(long).startswith('<bdi dir="ltr" class="ltr">')  # may break: not nb
    # a sentence built in Python: its isolates become elements, the rest is escaped; stray controls drop
    assert i18n.markup("a \u2066b \u2067c\u2069\u2069 \u2069<") == (
        'a <bdi dir="ltr" class="ltr nb">b <bdi dir="rtl">c</bdi></bdi> &lt;')
    en = i18n.Language("en")
    assert en.isolate("x") == "x" and markupsafe.escape(en.ltr("x")) == "x"


def test_translator_isolates_become_markup_in_templates():
    from bench.render import outputs

    fa = i18n.Language("fa")
    env = outputs.environment(fa)
    html = env.from_string('{{ _("report by bench %(version)s", version=v | ltr) }}').render(v="0.1.0")
    # "bench 0.1.0" is one left-to-right unit (it used to read "0.1.0 bench" in the PDF): the translator's
    # isolate and the inserted value are both elements, nested (a Unicode isolate around an element fails)
    assert '<bdi dir="ltr" class="ltr nb">bench <bdi dir="ltr" class="ltr nb">0.1.0</bdi></bdi>' in html
    # in an attribute (plain_text) isolates stay Unicode controls, whatever the value: message or sentence
    meta = env.from_string('<meta content="{{ _("CIFAR-10 classifiers: a reproducible benchmark") | plain_text }}">'
                           '<img alt="{{ _("learning curves of %(model)s", model=m | iso) | plain_text }}">').render(
        m="CNN + BN")
    # (a name printed through `iso` keeps its spaces unbreakable: no-break spaces)
    assert "<bdi" not in meta and "\u2066CIFAR-10\u2069" in meta and "\u2066CNN\u00a0+\u00a0BN\u2069" in meta
    # everywhere else (finalize) a sentence built in Python prints its isolates as <bdi> elements
    sentence = fa.isolate("CNN + BN") + " یاد نگرفت"  # a plain str, as `_(...) % {...}` returns
    assert type(sentence) is str
    body = env.from_string("<p>{{ s }}</p>").render(s=sentence)
    assert body == '<p><bdi dir="ltr" class="ltr nb">CNN + BN</bdi> یاد نگرفت</p>'
    with i18n.activated(fa):  # in Python the same message is text with Unicode isolates
        assert i18n._("report by bench %(version)s") % {"version": "0.1.0"} == (
            "گزارش ساخته‌شده با \u2066bench 0.1.0\u2069")


def test_english_negative_numbers_take_the_minus_sign():
    en = i18n.Language("en")
    assert en.format(-9.87, "+.1f") == "\u22129.9" and en.format(-1000, ",") == "\u22121,000"
    assert en.format(9.87, "+.1f") == "+9.9" and en.integer(-3) == "\u22123"


@pytest.mark.parametrize("day,solar", [("2025-03-21", "۱ فروردین ۱۴۰۴"), ("2024-03-20", "۱ فروردین ۱۴۰۳"),
                                       ("2025-03-20", "۳۰ اسفند ۱۴۰۳"), ("1979-02-11", "۲۲ بهمن ۱۳۵۷")])
def test_persian_date_is_solar_hijri_beside_gregorian(day, solar):
    """Known dates: Nowruz 1404 and 1403, the last day of 1403, 22 Bahman 1357."""
    pytest.importorskip("jdatetime")
    from bench.render import text

    with i18n.activated(i18n.Language("fa")):
        shown = text.long_date(day)
    assert shown.startswith(solar + " (") and shown.endswith(")")
    with i18n.activated(i18n.Language("en")):
        assert text.long_date(day) == day


def test_a_translators_own_digits_follow_the_reports_numbering():
    # The catalogue writes "±۱۰" and "۹۵٪" in its sentences; with --digits latin they print in Latin digits, as
    # every formatted number of that report does.
    latin = i18n.Language("fa", "latin")
    message = "A bin with fewer than %(few)s predictions has an accuracy uncertain by up to about ±10 points (95 %% interval), so read such points of %(figure)s loosely; these bins hold a share of each model's predictions (%(shares)s) that bounds how far they can move its ECE."
    text = latin.gettext(message)
    assert "±10" in text and not re.search("[\u06f0-\u06f9]", text)
    native = i18n.Language("fa").gettext(message)
    assert "±۱۰" in native
