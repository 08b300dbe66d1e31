"""Glyph order in the Persian PDF: Latin names, versions, architecture chains and signed numbers come out
in reading order and unbroken (each is a left-to-right isolate in the markup, bench/render/i18n.py).

The PDF's words are read with their positions (poppler's `pdftotext -bbox`) and each line is rebuilt
left to right as it is printed, so a scrambled isolate ("0.1.0 bench", "10-128-256-3072", "2.3−") shows
as such. Brackets and parentheses are not compared: a mirrored glyph is extracted as its twin.
"""

from __future__ import annotations

import html as html_lib
import re
import shutil
import subprocess
from collections import defaultdict

import pytest

from bench import __version__
from bench.render import report
from conftest import build_run

pytestmark = pytest.mark.slow


def visual_lines(pdf) -> list[str]:
    """Every printed line of the PDF, its words ordered left to right by position."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    lines = []
    for page in out.split("<page ")[1:]:
        rows = defaultdict(list)
        for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>',
                             page):
            rows[round((float(m[2]) + float(m[4])) / 2)].append((float(m[1]), float(m[3]), html_lib.unescape(m[5])))
        for y in sorted(rows):
            words = sorted(rows[y])
            text = words[0][2]
            for (_, a1, _), (b0, _, w) in zip(words, words[1:]):
                text += (" " if b0 - a1 > 1.0 else "") + w
            lines.append(text)
    return lines


@pytest.fixture(scope="module")
def persian(tmp_path_factory):
    pytest.importorskip("weasyprint")
    if not shutil.which("pdftotext"):
        pytest.skip("poppler's pdftotext is not installed")
    run = build_run(tmp_path_factory.mktemp("run"), ["mlp", "cnn", "cnn_bn"], [0, 1])
    out = tmp_path_factory.mktemp("fa") / "report.pdf"
    report.render_report(run, out, lang="fa")
    return {"lines": visual_lines(out), "html": out.with_suffix(".html").read_text()}


def test_versions_and_chains_read_left_to_right(persian):
    lines = persian["lines"]
    version = f"bench {__version__}"
    assert any(version in line for line in lines), "bench's version is missing from the title"
    # the old scramble, in a sentence (the appendix's two-column versions table reads "bench | 0.1.0" right to left)
    assert not any(f"{__version__} bench" in line and re.search("[\u0600-\u06ff]", line) for line in lines)
    chain = ("3072-256-128-10", "۳۰۷۲-۲۵۶-۱۲۸-۱۰")
    reversed_chain = ("10-128-256-3072", "۱۰-۱۲۸-۲۵۶-۳۰۷۲")
    assert any(c in line for line in lines for c in chain), "the MLP's architecture chain is missing"
    assert not any(c in line for line in lines for c in reversed_chain)


def test_model_names_are_whole_and_signs_precede_numbers(persian):
    lines = persian["lines"]
    assert any("CNN + BN + Dropout" in line for line in lines)
    # never broken across lines: no line ends or starts inside the name
    assert not any(re.search(r"(?:CNN \+|CNN \+ BN \+)$", line) or re.match(r"^(?:\+ BN|BN \+ Dropout|\+ Dropout)", line)
                   for line in lines)
    signed = [m for line in lines for m in re.findall(r"[−+][۰-۹]+٫[۰-۹]+", line)]
    assert signed, "no signed difference printed"
    # a sign printed after its number ("۲٫۳−") is a number read backwards
    assert not any(re.search(r"[۰-۹]٫[۰-۹]+[−+](?![۰-۹])", line) for line in lines)


def test_isolates_are_markup_in_the_html(persian):
    html = persian["html"]
    assert '<bdi dir="ltr" class="ltr nb">CNN + BN + Dropout</bdi>' in html
    assert re.search(r'<bdi dir="ltr" class="ltr nb">bench <bdi dir="ltr" class="ltr nb">[^<]+</bdi></bdi>', html)
    head = "".join(re.findall(r"<title>.*?</title>|<meta [^>]*>", html.split("<body", 1)[0], flags=re.S))
    assert "<bdi" not in head  # no element inside <title> or a <meta> attribute
    assert re.search(r'<bdi dir="ltr" class="ltr nb">[−+][۰-۹]+٫[۰-۹]+</bdi>', html)
