"""The PDF's typesetting: no text over text, nothing off the page, figures at their printed size,
a table of contents whose page numbers are right, and a running footer.

Every test runs on the English report and on the Persian one (--lang fa: right to left, Persian
digits); one render of the tiny run per language (module fixture) serves every test. The overlap
rule is the one of the project's pdf-layout check: words of different lines whose boxes (pdftotext
-bbox-layout) share more than a quarter of the smaller box overlap; a word within 8 pt of the page
edge leaves the page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from xml.etree import ElementTree as ET

import pytest

from bench.render import i18n as i18n

from bench.render import outputs as outputs
from bench.render import report as report
EDGE_PT = 8.0
OVERLAP = 0.25
XHTML = "{http://www.w3.org/1999/xhtml}"

needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                     reason="pdftotext (poppler-utils) is not installed: the PDF's word boxes "
                                            "cannot be read")


def pdf_words(pdf_path) -> list[dict]:
    """Per page: width, height, and its lines as lists of (x0, y0, x1, y1, text) word boxes, in points."""
    xml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf_path), "-"], capture_output=True,
                         check=True).stdout
    root = ET.fromstring(re.sub(rb"<!DOCTYPE[^>]*>", b"", xml))
    pages = []
    for page in root.iter(f"{XHTML}page"):
        lines = [[(*(float(w.get(k)) for k in ("xMin", "yMin", "xMax", "yMax")), w.text or "")
                  for w in line.iter(f"{XHTML}word")] for line in page.iter(f"{XHTML}line")]
        pages.append({"width": float(page.get("width")), "height": float(page.get("height")), "lines": lines})
    return pages


def layout_defects(pages: list[dict]) -> list[str]:
    """Words that overlap words of another line, or come within EDGE_PT of the page edge."""
    defects = []
    for n, page in enumerate(pages, 1):
        w, h = page["width"], page["height"]
        words = [(li, box) for li, line in enumerate(page["lines"]) for box in line]
        for _, (x0, y0, x1, y1, t) in words:
            if x0 < EDGE_PT or y0 < EDGE_PT or x1 > w - EDGE_PT or y1 > h - EDGE_PT:
                defects.append(f"p{n}: {t!r} leaves the page at ({x0:.0f},{y0:.0f})-({x1:.0f},{y1:.0f})")
        words.sort(key=lambda r: r[1][1])
        for i, (la, a) in enumerate(words):
            for lb, b in words[i + 1:]:
                if b[1] >= a[3]:
                    break
                if la == lb:
                    continue
                ix = min(a[2], b[2]) - max(a[0], b[0])
                iy = min(a[3], b[3]) - max(a[1], b[1])
                if ix <= 0 or iy <= 0:
                    continue
                smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])) or 1
                if ix * iy / smaller > OVERLAP:
                    defects.append(f"p{n}: {a[4]!r} overlaps {b[4]!r} at ({max(a[0], b[0]):.0f},{max(a[1], b[1]):.0f})")
    return defects


# Per language: the title given, the first contents entries and the last one.
LANGUAGES = {
    "en": {"title": "Layout check", "first": ["1. Setup", "2. MLP", "3. CNN"], "last": "Appendix"},
    "fa": {"title": "بررسی صفحه‌آرایی", "first": ["۱. چیدمان آزمایش", "۲. MLP", "۳. CNN"], "last": "پیوست"},
}
PERSIAN_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")


@pytest.fixture(scope="module", params=sorted(LANGUAGES))
def rendered(request, tiny_run, tmp_path_factory):
    """The tiny run's report in one language, rendered once: PDF, HTML and WeasyPrint's laid-out pages."""
    pytest.importorskip("weasyprint")
    lang = request.param
    out = tmp_path_factory.mktemp(f"layout-{lang}") / "report.pdf"
    documents = []
    layout = outputs.layout_pdf

    def keep(html):
        documents.append(layout(html))
        return documents[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(outputs, "layout_pdf", keep)
        report.render_report(tiny_run, out, title=LANGUAGES[lang]["title"], lang=lang)
    return {"lang": lang, "pdf": out, "html": out.with_suffix(".html").read_text(), "document": documents[0],
            **LANGUAGES[lang]}


@pytest.fixture(scope="module")
def words(rendered):
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: the PDF's word boxes cannot be read")
    return pdf_words(rendered["pdf"])


def _line_text(line, rtl: bool = False) -> str:
    """A line's words as read. pdftotext lists the words of a right-to-left line, and the letters of a
    right-to-left word, in the order they are drawn (left to right): they are turned round here."""
    if not rtl:
        return " ".join(w[4] for w in line)
    words = sorted(line, key=lambda w: -w[0])
    return " ".join(w[4][::-1] if i18n.strong_direction(w[4]) == "rtl" else w[4] for w in words)


def canonical(text: str) -> str:
    """Text as pdftotext gives it back: no directional marks or zero-width non-joiners, ASCII digits, and
    the two letters pdftotext swaps (the lam-alef ligature is one glyph; a hamza above follows its letter)."""
    text = i18n.strip_bidi(text).replace("\u200c", "").replace("\u0654", "").translate(PERSIAN_DIGITS)
    return " ".join(text.replace("لا", "ال").split())


def test_rule_finds_overlaps_and_text_off_the_page():
    line_a = [(100, 100, 140, 110, "over")]
    line_b = [(105, 102, 150, 112, "text")]
    clean = [(100, 120, 140, 130, "fine")]
    page = {"width": 595, "height": 842, "lines": [line_a, line_b, clean, [(590, 400, 600, 410, "edge")]]}
    defects = layout_defects([page])
    assert len(defects) == 2 and "overlaps" in defects[1] and "leaves the page" in defects[0]


@pytest.mark.slow
@needs_pdftotext
def test_no_text_overlaps_or_leaves_the_page(words):
    defects = layout_defects(words)
    assert not defects, "\n".join(defects[:20])


class _Toc(HTMLParser):
    """The contents entries (href, text) and, per section id, the text of the first h2 inside it."""

    def __init__(self):
        super().__init__()
        self.entries, self.headings, self._ids, self._in = [], {}, [], None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        # The contents' links point at sections; a reference to a table or figure links to its caption instead.
        if tag == "a" and attrs.get("href", "").startswith("#sec-"):
            self._in, self._text = ("a", attrs["href"][1:]), ""
        elif tag == "div" and attrs.get("id", "").startswith("sec-"):
            self._ids.append(attrs["id"])
        elif tag == "h2" and self._ids and self._ids[-1] not in self.headings:
            self._in, self._text = ("h2", self._ids[-1]), ""

    def handle_data(self, data):
        if self._in:
            self._text += data

    def handle_endtag(self, tag):
        if self._in and tag == self._in[0]:
            kind, key = self._in
            text = " ".join(self._text.split())
            if kind == "a":
                self.entries.append((key, text))
            else:
                self.headings[key] = text
            self._in = None


@pytest.mark.slow
def test_contents_lists_every_section_under_its_heading(rendered):
    toc = _Toc()
    toc.feed(rendered["html"])
    assert [i18n.strip_bidi(e[1]) for e in toc.entries][:3] == rendered["first"]
    assert toc.entries[-1][1] == rendered["last"]
    for key, text in toc.entries:
        assert toc.headings.get(key) == text, (key, text, toc.headings.get(key))


def _unnumbered(text: str) -> str:
    """A heading without its section number ("2. MLP" -> "MLP"), canonical: how the contents line and the
    heading are compared (in a right-to-left line pdftotext gives the number's dot on either side)."""
    return " ".join(w for w in canonical(text).split() if not re.fullmatch(r"[\d.]+", w))


def _entry(line, titles: set[str], rtl: bool):
    """(title, page) of a contents line: its words up to the leader dots, and the page number after them."""
    words = [w for w in _line_text(line, rtl).split() if w.strip(".")]
    if len(words) < 2 or not canonical(words[-1]).isdigit():
        return None
    title = _unnumbered(" ".join(words[:-1]))
    return (title, int(canonical(words[-1]))) if title in titles else None


@pytest.mark.slow
@needs_pdftotext
def test_contents_page_numbers_point_at_the_headings(rendered, words):
    toc = _Toc()
    toc.feed(rendered["html"])
    titles = {_unnumbered(t) for _, t in toc.entries}
    rtl = rendered["lang"] == "fa"
    printed = {}
    for line in (ln for ln in words[0]["lines"] + words[1]["lines"]):
        found = _entry(line, titles, rtl)
        if found:
            printed[found[0]] = found[1]
    assert set(printed) == titles, printed
    for title, page in printed.items():
        texts = {_unnumbered(_line_text(line, rtl)) for line in words[page - 1]["lines"]}
        assert title in texts, f"{title!r} is not on page {page}"
    assert list(printed.values()) == sorted(printed.values())


@pytest.mark.slow
@needs_pdftotext
def test_footer_has_title_and_page_numbers(rendered, words):
    n = len(words)
    rtl = rendered["lang"] == "fa"
    for i, page in enumerate(words, 1):
        bottom = [canonical(_line_text(line, rtl)) for line in page["lines"] if line and line[0][1] > page["height"] - 72]
        assert f"{i} / {n}" in bottom, (i, bottom)
        if i > 1:
            assert canonical(rendered["title"]) in bottom, (i, bottom)
    if rendered["lang"] == "fa":  # page numbers in Persian digits, the footer mirrored: number on the left
        footer = [line for line in words[1]["lines"] if line and line[0][1] > words[1]["height"] - 72]
        number = next(line for line in footer if canonical(_line_text(line, rtl)) == f"2 / {n}")
        title = next(line for line in footer if canonical(_line_text(line, rtl)) == canonical(rendered["title"]))
        assert "۲" in _line_text(number, rtl) and number[0][0] < title[0][0]


def _replaced_boxes(document):
    from weasyprint.formatting_structure import boxes

    def walk(box):
        yield box
        for child in getattr(box, "children", None) or []:
            yield from walk(child)

    for number, page in enumerate(document.pages, 1):
        for box in walk(page._page_box):
            if isinstance(box, boxes.ReplacedBox):
                yield number, page._page_box, box


@pytest.mark.slow
def test_figures_print_at_their_natural_size_within_the_text_block(rendered):
    from weasyprint.images import SVGImage

    found = {"svg": 0, "raster": 0}
    for number, page_box, box in _replaced_boxes(rendered["document"]):
        width, height, _ = box.replacement.get_intrinsic_size(box.style["image_resolution"], box.style["font_size"])
        kind = "svg" if isinstance(box.replacement, SVGImage) else "raster"
        found[kind] += 1
        left = page_box.content_box_x()
        assert left - 0.5 <= box.position_x and box.position_x + box.width <= left + page_box.width + 0.5, number
        if "photo" in (box.element.get("class") or "").split():
            continue  # a photograph without text (the sample grid) is sized to the rows of class names beside it
        # Neither shrunk (text under 7 pt) nor enlarged: the figure's inches are the page's.
        assert box.width == pytest.approx(width, abs=0.5), (number, kind, box.width, width)
        assert box.height == pytest.approx(height, abs=0.5), (number, kind, box.height, height)
    # per model: learning curves and confusion matrices; then per-class F1 and the reliability diagram, all PNG
    # (bench.render.plots says why); and the sample grid (no --data-dir: no gallery of mistakes)
    assert found["svg"] == 0
    assert found["raster"] == 2 * 2 + 2 + 1


@pytest.mark.slow
def test_charts_and_photographs_are_embedded_as_png(rendered):
    uris = re.findall(r'src="data:(image/[a-z+]+);base64,', rendered["html"])
    assert uris.count("image/svg+xml") == 0 and uris.count("image/png") == 6 + 1
    assert 'src="http' not in rendered["html"]


# Headings as a reader finds them in the PDF's text (pdftotext), per language.
HEADINGS = {"en": ["Results", "Contents", "1. Setup", "Ranking", "Calibration", "(d) Why cross-entropy", "Appendix"],
            "fa": ["نتایج", "فهرست مطالب", "چیدمان آزمایش", "رتبه‌بندی", "کالیبراسیون", "چرا آنتروپی متقاطع",
                   "(الف) چرا یادگیری انتقالی سودمند است", "پیوست", "ماشین و اجرا", "فایل‌های خروجی"]}


@pytest.mark.slow
@needs_pdftotext
def test_pdf_text_holds_the_headings_in_logical_order(rendered):
    """pdftotext gives the Persian words back in reading order (not reversed letters), and the fonts
    that drew them are embedded."""
    text = canonical(subprocess.run(["pdftotext", str(rendered["pdf"]), "-"], capture_output=True,
                                    check=True).stdout.decode())
    for heading in HEADINGS[rendered["lang"]]:
        assert canonical(heading) in text, heading
        if rendered["lang"] == "fa":
            assert canonical(heading)[::-1] not in text
    fonts = subprocess.run(["pdffonts", str(rendered["pdf"])], capture_output=True, check=True).stdout.decode()
    embedded = [line.split()[0].split("+")[-1] for line in fonts.splitlines()[2:] if " yes " in line]
    assert ("Vazirmatn" in embedded) == (rendered["lang"] == "fa"), embedded
