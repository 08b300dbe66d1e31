"""The HTML edition read in a browser as well as printed (s28 review in Chromium): the reliability diagram has a
width of its own (a browser knows no image-resolution), references wrap at spaces, a short title or class name is
never split, the layer index sits on its row's baseline, and a narrow screen scrolls wide tables (screen only).

The style sheet is read as rules (selector -> declarations, with the media block they stand in); the slow test
lays out a report with WeasyPrint and reads its boxes."""

import dataclasses
import re

import pytest
from test_report import fake_run, render

from bench.render import i18n, outputs, plots

CSS = (outputs.TEMPLATES_DIR / "style.css").read_text()
RTL_CSS = (outputs.TEMPLATES_DIR / "style-rtl.css").read_text()


def rules(css: str) -> list[tuple[str, str, dict]]:
    """(media, selector, declarations) of every rule, one level of @media unwrapped; comments dropped."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    out, media, depth, start, i = [], "", 0, 0, 0
    while i < len(css):
        c = css[i]
        if c == "{":
            head = css[start:i].strip()
            if head.startswith("@media"):
                media, start = head, i + 1
            elif head.startswith("@"):  # @page and its margin boxes: skip the block
                level, i = 1, i + 1
                while level:
                    level += {"{": 1, "}": -1}.get(css[i], 0)
                    i += 1
                start = i
                continue
            else:
                end = css.index("}", i)
                decls = dict(d.split(":", 1) for d in css[i + 1:end].split(";") if ":" in d)
                for sel in head.split(","):
                    out.append((media, " ".join(sel.split()), {k.strip(): v.strip() for k, v in decls.items()}))
                i, start = end + 1, end + 1
                continue
        elif c == "}" and media:
            media, start = "", i + 1
        i += 1
    return out


def declared(selector: str, prop: str, css: str = CSS, media: str = "") -> str | None:
    """The last value `selector` (exactly) gives `prop` in `media` ("" outside any)."""
    values = [d[prop] for m, s, d in rules(css) if s == selector and m == media and prop in d]
    return values[-1] if values else None


def test_the_reliability_diagram_is_as_wide_in_a_browser_as_it_is_drawn():
    # A float has no width for max-width: 100% to take a share of, and image-resolution is WeasyPrint's alone:
    # without a width of its own a browser showed the 620-px PNG at 620 px and left the paragraph 30 px.
    width = declared(".two-col > figure.small img", "width")
    assert width and width.endswith("in"), width
    curves = {"MLP": {"confidence": [0.2, 0.5], "accuracy": [0.3, 0.5], "counts": [400, 300], "bins": 15,
                      "ece": 0.03}}
    assert plots.reliability_figure(curves).get_size_inches()[0] == pytest.approx(float(width[:-2]))
    template = (outputs.TEMPLATES_DIR / "_comparison.html.j2").read_text()
    assert re.search(r'<div class="two-col">\s*<figure class="small"><img src="\{\{ reliability \}\}"', template)


def test_references_wrap_at_spaces_and_only_hashes_break_anywhere():
    template = (outputs.TEMPLATES_DIR / "_comparison.html.j2").read_text()
    assert '<td class="small reference" dir="ltr">{{ m.reference }}</td>' in template
    anywhere = [s for _, s, d in rules(CSS) if d.get("word-break") == "break-all"]
    assert not [s for s in anywhere if re.search(r"td\.(small|reference)\b", s)], anywhere
    assert declared("td.reference", "word-break") == "normal"
    assert declared("td.reference", "overflow-wrap") == "break-word"


def test_class_names_and_short_titles_are_never_split():
    # The sample grid's caption no longer sets its figure's width (the tables beside it kept 190 px: "airplan|e").
    assert declared(".data-block > figure.samples > figcaption", "width") == "0"
    assert declared(".data-block > figure.samples > figcaption", "min-width") == "100%"
    for sel in (".data-tables th", ".data-tables td"):
        assert declared(sel, "overflow-wrap") == "normal", sel
    # On screen a name's column is at least as wide as the name; print keeps "anywhere" for hostile user text
    # (an English title of 120 letters without a space: tests/render/test_layout_bounds.py).
    for sel in ("td.name", "th.name", "table td:first-child", "table th:first-child"):
        assert declared(sel, "overflow-wrap") == "anywhere", sel
        assert declared(sel, "overflow-wrap", media="@media screen") == "break-word", sel
    assert declared("table.differ tbody th", "white-space") is None  # row headings wrap at spaces


def test_table_5_and_the_ranking_keep_a_short_title_on_one_line(tmp_path):
    arts = fake_run(tmp_path, models=("mlp", "cnn", "vgg16"))
    long_title = "M" + "odelTitleWithoutSpaces" * 2  # 45 characters: user text, free to wrap
    arts.runs = [dataclasses.replace(r, config={**r.config, "title": long_title if r.model == "mlp" else
                                                 "CNN + BN + Dropout" if r.model == "cnn" else r.config["title"]})
                 for r in arts.runs]
    html = render(arts)[1]
    head = re.search(r'<table class="compact differ">.*?</thead>', html, re.S).group(0)
    assert '<th class="name"><span class="nowrap">CNN\u00a0+\u00a0BN\u00a0+\u00a0Dropout</span></th>' in head
    assert f'<th class="name">{long_title}</th>' in head
    ranking = re.search(r'<table class="compact ranking">.*?</table>', html, re.S)
    if ranking:
        assert '<strong><span class="nowrap">CNN\u00a0+\u00a0BN\u00a0+\u00a0Dropout</span></strong>' in ranking.group(0)


def test_the_layer_index_sits_on_its_rows_baseline():
    assert declared("table.layers td", "vertical-align") == "baseline"
    assert declared("table.layers td.idx", "font-size") == declared("table.layers", "font-size")
    pad = declared("table.layers td", "padding").split()[0]
    assert declared("table.layers td.idx", "padding").split()[0] == pad


def test_a_narrow_screen_scrolls_wide_tables_and_print_is_untouched(tmp_path):
    html = render(fake_run(tmp_path, models=("mlp",)))[1]
    head = html.split("</head>")[0]
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in head
    scrolling = [(m, s) for m, s, d in rules(CSS) + rules(RTL_CSS) if d.get("overflow-x") == "auto"]
    assert scrolling and all(m.startswith("@media screen") for m, _ in scrolling), scrolling
    assert ("@media screen and (max-width: 760px)", "table:not(.sample-grid)") in scrolling
    # Nothing that moves a figure or a table for a narrow screen is outside a screen block.
    for m, s, d in rules(CSS):
        if "!important" in " ".join(d.values()) or s.startswith("div.two-col"):
            assert m.startswith("@media screen"), s


@pytest.mark.slow
@pytest.mark.parametrize("code", ["en", "fa"])
def test_the_protocol_and_metrics_tables_stay_in_the_text_block(tmp_path, code):
    """Table 5 ran 13 pt past the text block in English, the metrics table 20 pt in Persian (Vazirmatn's wider
    figures), and a short title in Table 5's header broke inside a word."""
    pytest.importorskip("weasyprint")
    arts = fake_run(tmp_path, models=("mlp", "cnn", "vgg16"), seeds=(0, 1))
    titles = {"mlp": "MLP", "cnn": "CNN + BN + Dropout", "vgg16": "VGG16 transfer"}
    arts.runs = [dataclasses.replace(r, config={**r.config, "title": titles[r.model]}) for r in arts.runs]
    with i18n.activated(i18n.Language(code)):
        html = render(arts)[1]
    document = outputs.layout_pdf(html)
    out, seen = [], ""
    for n, page in enumerate(document.pages, 1):
        left, width = page._page_box.content_box_x(), page._page_box.width
        for t in table_text(page._page_box, ("differ", "metrics wide")):
            seen += "\n" + t.text
            if t.position_x < left - 1.5 or t.position_x + t.width > left + width + 1.5:
                out.append(f"p{n} {t.text[:30]!r} at {t.position_x - left:.0f}-{t.position_x + t.width - left:.0f}"
                           f" px of {width:.0f}")
    assert seen and not out, "\n".join(out)
    assert "CNN\u00a0+\u00a0BN\u00a0+\u00a0Dropout" in seen  # one text box: never broken across lines



def table_text(box, classes: tuple[str, ...], inside: bool = False):
    """The text boxes of the tables whose class attribute is one of `classes`."""
    element = getattr(box, "element", None)
    if getattr(box, "element_tag", None) == "table" and element is not None and any(element.get("class", "").startswith("compact " + c) or
                                          element.get("class", "") == c for c in classes):
        inside = True
    if inside and type(box).__name__ == "TextBox" and box.text.strip():
        yield box
    for child in getattr(box, "children", None) or []:
        yield from table_text(child, classes, inside)
