"""Hostile lengths of user text stay on the page (issue 24): a title, author and affiliation of hundreds of
characters without a space, model titles of 120 characters without one, Persian and mixed-direction text.
Every such string wraps (overflow-wrap: anywhere, never a hyphen) inside the text block, or is shortened
(the running footer's title: one line, cut with an ellipsis), in both languages; the page-edge rule of
tests/render/test_layout.py holds, and the text is still there.

One render per language of the tiny run (its model titles replaced in memory, as a run registered with such
a title would carry them in config.json; the CNN loads weights, so the machine table has a row named after
its title), one `bench compare` with a long --title, and one Persian page that puts a long Latin title in
every kind of place a sentence can put it: after "(", in a cell no rule of style.css names, inside a
no-break span, in a row heading.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from bench.render import outputs as outputs
from bench.render import report as report
from test_layout import EDGE_PT, canonical, pdf_words

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("pdftotext") is None,
                                 reason="pdftotext (poppler-utils) is not installed: the PDF's word boxes cannot "
                                        "be read")]

LONG_MODEL = "M" + "odelTitleWithoutSpaces" * 5 + "X" * 9          # 120 characters, no space
HOSTILE = {
    "en": {"title": "TitlePrefixQZ" + "AVeryLongTitleWithoutAnySpace0123456789" * 7 + "End",   # 289 + 13
           "author": "AuthorPrefixQZ" + "x" * 186,                                               # 200
           "affiliation": "AffilPrefixQZ" + "-department_of_long_names" * 8,
           "models": {"mlp": LONG_MODEL, "cnn": "CnnPrefixQZ" + "é" * 109}},
    "fa": {"title": "عنوانبلند" + "بسیاربلندبدونفاصله" * 12 + "ModelNameWithoutSpaces" * 4,          # mixed
           "author": "نویسنده" + "ب" * 193,
           "affiliation": "دانشگاه" + "تهرانAI" * 25,
           "models": {"mlp": "مدل" + "شبکه" * 20 + "MLP" * 10, "cnn": LONG_MODEL}},
}


def edge_defects(pages: list[dict]) -> list[str]:
    """Words within EDGE_PT of the page edge (test_layout.py's page-edge rule)."""
    out = []
    for n, page in enumerate(pages, 1):
        w, h = page["width"], page["height"]
        for line in page["lines"]:
            for x0, y0, x1, y1, t in line:
                if x0 < EDGE_PT or y0 < EDGE_PT or x1 > w - EDGE_PT or y1 > h - EDGE_PT:
                    out.append(f"p{n}: {t[:30]!r}… leaves the page at ({x0:.0f},{y0:.0f})-({x1:.0f},{y1:.0f})")
    return out


def text_boxes(box, margins: bool = True):
    """The text of WeasyPrint's laid-out box tree (weasyprint.Document.pages[i]._page_box); `margins=False`
    leaves out the page's margin boxes (the running footer, whose title is clipped to its box and cut with an
    ellipsis: test_footer_title_is_shortened_to_one_line_beside_the_page_number)."""
    if type(box).__name__ == "TextBox" and box.text.strip():
        yield box
    if type(box).__name__ == "MarginBox" and not margins:
        return
    for child in getattr(box, "children", None) or []:
        yield from text_boxes(child, margins)


def boxes_off_the_page(document) -> list[str]:
    """Text that the laid-out pages put within EDGE_PT of the page's left or right edge, or beyond it. The PDF's
    word boxes alone do not show it all: pdftotext drops a word that lies wholly off the page, as the Persian
    machine table's column of values did when a 120-character title in a row heading widened the table."""
    edge = EDGE_PT * 96 / 72  # WeasyPrint lays out in CSS pixels
    out = []
    for n, page in enumerate(document.pages, 1):
        for box in text_boxes(page._page_box, margins=False):
            x0, x1 = box.position_x, box.position_x + box.width
            if x0 < edge or x1 > page.width - edge:
                out.append(f"p{n}: {box.text[:30]!r}… at x {x0 * 72 / 96:.0f}-{x1 * 72 / 96:.0f} pt")
    return out


def _text(pdf) -> str:
    return canonical(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True).stdout.decode())


@pytest.fixture(scope="module", params=sorted(HOSTILE))
def hostile(request, tiny_run, tmp_path_factory):
    pytest.importorskip("weasyprint")
    lang = request.param
    h = HOSTILE[lang]
    out = tmp_path_factory.mktemp(f"bounds-{lang}") / "report.pdf"
    load = report.load_artifacts

    def hostile_config(config: dict, model: str) -> dict:
        config = {**config, "title": h["models"].get(model, model)}
        if model == "cnn":  # a model that loads weights: the machine table has a row named after its title
            config["compute"] = {**config["compute"], "weights_source": "file hostile_weights.pth"}
        return config

    def retitled(path):
        arts = load(path)
        arts.runs = [dataclasses.replace(r, config=hostile_config(r.config, r.model)) for r in arts.runs]
        return arts

    documents = []
    layout = outputs.layout_pdf

    def keep(html):
        documents.append(layout(html))
        return documents[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "load_artifacts", retitled)
        mp.setattr(outputs, "layout_pdf", keep)
        report.render_report(tiny_run, out, title=h["title"], author=h["author"], affiliation=h["affiliation"],
                             lang=lang, evidence=False)
    return {"lang": lang, "pdf": out, "document": documents[0], **h}


def test_hostile_user_text_stays_on_the_page(hostile):
    pages = pdf_words(hostile["pdf"])
    defects = edge_defects(pages) + boxes_off_the_page(hostile["document"])
    assert not defects, "\n".join(defects[:20])


def test_hostile_user_text_is_still_printed(hostile):
    # Wrapped text comes back from pdftotext in pieces: compare without spaces and line breaks.
    text = "".join(_text(hostile["pdf"]).split())
    rtl = hostile["lang"] == "fa"
    for key in ("title", "author", "affiliation"):
        prefix = canonical(hostile[key])[:9]
        assert prefix in text or (rtl and prefix[::-1] in text), (key, prefix)
    for title in hostile["models"].values():
        prefix = canonical(title)[:9]
        assert prefix in text or (rtl and prefix[::-1] in text), prefix


def test_footer_title_is_shortened_to_one_line_beside_the_page_number(hostile):
    pages = pdf_words(hostile["pdf"])
    page = pages[1]
    footer = [line for line in page["lines"] if line and line[0][1] > page["height"] - 72]
    text = "".join(canonical(w[4]) for line in footer for w in line)
    prefix = canonical(hostile["title"])[:9]
    assert prefix in text or prefix[::-1] in text, text
    assert f"2/{len(pages)}" in text or f"{len(pages)}/2" in text, text
    assert len({round(line[0][1]) for line in footer}) == 1, "the footer is one line"


def test_compare_with_a_long_title_stays_on_the_page(tiny_run, tmp_path):
    pytest.importorskip("weasyprint")
    from bench.render.compare import write_compare

    title = "ComparePrefixQZ" + "LongComparisonTitleNoSpaces" * 10
    out = tmp_path / "compare.pdf"
    write_compare(tiny_run, tiny_run, out, title=title)
    pages = pdf_words(out)
    defects = edge_defects(pages)
    assert not defects, "\n".join(defects[:20])
    assert "ComparePrefixQZ" in "".join(_text(out).split())


# The places where a name inserted into a Persian sentence once kept its length: glued to "(", in a table cell no
# rule of style.css lets wrap, inside a no-break span, in a row heading (table.kv th never wraps). i18n marks a
# long single word (class "long"), and style.css breaks it between any two letters wherever it stands.
ANY_CELL = """<!doctype html><html lang="fa" dir="rtl"><head><meta charset="utf-8"><style>{{ css }}</style></head>
<body>
<p>این گزارش ({{ latin | iso }}، {{ mixed | iso }}) را ارزیابی می‌کند.</p>
<table><thead><tr><th>الف</th><th>ب</th><th>پ</th></tr></thead><tbody>
<tr><td>کوتاه</td><td>{{ sentence }}</td><td>{{ latin | iso }} بهتر</td></tr>
<tr><td>کوتاه</td><td>({{ mixed | iso }})</td><td><span class="nowrap">برای {{ latin | iso }}</span></td></tr>
</tbody></table>
<table class="kv"><tr><th>{{ latin | iso }}</th><td>فایل</td></tr></table>
</body></html>"""


def test_a_long_name_in_a_persian_sentence_wraps_wherever_it_stands():
    pytest.importorskip("weasyprint")
    from bench.render import i18n, outputs

    fa = i18n.Language("fa")
    mixed = HOSTILE["fa"]["models"]["mlp"]
    with i18n.activated(fa):
        sentence = i18n._("%(option)s for %(models)s") % {"option": fa.ltr("channels_last"),
                                                            "models": fa.isolate(LONG_MODEL)}
    html = outputs.environment(fa).from_string(ANY_CELL).render(css=outputs.stylesheet(fa), latin=LONG_MODEL,
                                                                 mixed=mixed, sentence=sentence)
    assert html.count('<bdi dir="ltr" class="ltr long">') == 5 and html.count('<bdi dir="rtl" class="long">') == 2

    document = outputs.layout_pdf(html)
    out = []
    for page in document.pages:
        left, width = page._page_box.content_box_x(), page._page_box.width
        out += [f"{t.text[:30]!r} at {t.position_x - left:.0f}-{t.position_x + t.width - left:.0f} pt of {width:.0f}"
                for t in text_boxes(page._page_box)
                if t.position_x < left - 1 or t.position_x + t.width > left + width + 1]
    assert not out, "\n".join(out)
    text = "".join(canonical(t.text) for page in document.pages for t in text_boxes(page._page_box))
    assert text.count(LONG_MODEL[:20]) == 5  # broken across lines, each title's glyphs still in their order
