"""Page 1 and the comparison section as a reader sees them (issue 22): the headline table with every model, the
illustrative caveat exactly for runs that depart from the full protocol in size or epochs, the first rank counted
right, models that did not learn named, calibration in words, numbered tables, U+2212 minus.

Fast: in-memory runs (tests/results/memory_run.py) rendered to HTML; one slow test reads page 1 of the PDF.
"""

import copy
import html as html_lib
import re
import sys
from pathlib import Path

import pytest

from bench.protocol import get_profile, spec_for
from bench.render import outputs
from bench.render import report
from bench.results import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "results"))  # tests/results/memory_run.py
from memory_run import memory_artifacts  # noqa: E402

MINUS = "\u2212"


@pytest.fixture(scope="module", autouse=True)
def fewer_resamples():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stats, "N_RESAMPLES", 1000)
        yield


def text_of(html: str) -> str:
    html = re.sub(r"<head>.*?</head>", " ", html, flags=re.S)
    html = re.sub(r'src="data:[^"]*"', "", html)
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def render(arts) -> tuple[dict, str]:
    context = report.build_context(arts, report.analyse(arts), title=None, author="", affiliation="", data_dir=None)
    return context["summary"], report.render_html(context)


def page_one(html: str) -> str:
    """The HTML before the contents list: title, results paragraph, Table 1 and the caveats."""
    return html.split('<nav class="toc">')[0]


def comparison(html: str) -> str:
    return html.split('<div id="sec-comparison">')[1].split('<div id="sec-narrative">')[0]


def as_full_protocol(arts):
    """The same runs with the records of the full protocol (sizes, epochs, profile): no departure."""
    for r in arts.runs:
        c = r.config["compute"]
        c["spec"] = spec_for(r.model, get_profile("full")).to_dict() | {"model": r.model}
        c["profile"] = {"name": "full"}
        c["sizes"] = {"train": 45000, "val": 5000, "test": 10000}
    return arts


def set_train_accuracy(arts, model: str, value: float):
    for r in arts.runs:
        if r.model == model:
            r.history = copy.deepcopy(r.history)
            r.history[-1]["train_acc"] = value


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    arts = memory_artifacts(tmp_path_factory.mktemp("smoke"),
                            {"mlp": [0.40, 0.42, 0.41], "cnn": [0.30, 0.33, 0.31], "cnn_bn": [0.62, 0.60, 0.61]})
    set_train_accuracy(arts, "cnn", 0.15)  # the smoke CNN's case: trained near chance
    summary, html = render(arts)
    return {"summary": summary, "html": html}


def test_page_one_holds_the_headline_table_with_every_model_best_first(smoke):
    first = page_one(smoke["html"])
    table = re.search(r'<table class="metrics headline">.*?</table>', first, re.S).group(0)
    assert text_of(table).startswith("Table 1. ")
    rows = re.findall(r"<tr><td><strong>(.*?)</strong>", table)
    assert rows == [r["title"] for r in smoke["summary"]["ranking"]] == ["CNN + BN + Dropout", "MLP", "CNN"]
    # Mean accuracy with one decimal, its interval (3 seeds), the seed values, the Holm-adjusted test.
    mlp = smoke["summary"]["models"]["mlp"]["aggregate"]["accuracy"]
    row = text_of(re.search(r"<tr><td><strong>MLP</strong>.*?</tr>", table, re.S).group(0))
    assert f"{100 * mlp['mean']:.1f}" in row and f"[{100 * mlp['ci']['low']:.1f}, {100 * mlp['ci']['high']:.1f}]" in row
    assert "40.0, 42.0, 41.0" in row
    pair = next(p for p in smoke["summary"]["pairs"] if {p["a"], p["b"]} == {"cnn_bn", "mlp"})
    assert f"{MINUS}{100 * pair['configuration']['difference']:.1f}" in row
    # The paragraph refers to the table by its number; the contents list comes after it all.
    assert "Table 1 gives their results" in text_of(first)
    assert smoke["html"].index('<table class="metrics headline">') < smoke["html"].index('<nav class="toc">')


def test_a_model_that_did_not_learn_is_named_on_page_one_and_before_any_comparison(smoke):
    first = text_of(page_one(smoke["html"]))
    assert "CNN did not learn: training accuracy ended near chance in seeds 0, 1, 2 (15.0 %, 15.0 %, 15.0 %; " \
        "chance 10.0 %). Its place in the ranking says nothing about its architecture." in first
    assert "MLP did not learn" not in first and "CNN + BN + Dropout did not learn" not in first
    row = re.search(r"<tr><td><strong>CNN</strong>.*?</tr>", page_one(smoke["html"]), re.S).group(0)
    assert "did not learn" in text_of(row)
    section = comparison(smoke["html"])
    named = section.index('CNN did not learn (<a class="ref" href="#table-')  # a link to its table
    assert named < section.index("Test-set results") and named < section.index("Ranking")
    table = text_of(re.search(r'<table class="metrics learning">.*?</table>', section, re.S).group(0))
    assert "CNN 15.0, 15.0, 15.0 0, 0, 0 did not learn" in table and "below 19.0 %" in table


def test_a_smoke_run_is_illustrative_on_page_one_and_beside_its_ranking(smoke):
    first = text_of(page_one(smoke["html"]))
    assert "These numbers are illustrative: they show that the pipeline works, not how the models compare, " \
        "because the run uses the smoke profile (2,000 of the full protocol's 45,000 training images, " \
        "2–4 epochs per model instead of 10–40)." in first
    assert "the study's protocol" not in text_of(smoke["html"]) and "departs from the full protocol" in first
    ranking = comparison(smoke["html"]).split("<h3>Ranking</h3>")[1]
    assert text_of(ranking).startswith("This ranking is illustrative only (page 1)")


def test_a_full_protocol_run_is_not_called_illustrative(tmp_path):
    arts = as_full_protocol(memory_artifacts(tmp_path, {"mlp": [0.40, 0.42, 0.41], "cnn": [0.70, 0.72, 0.71]}))
    summary, html = render(arts)
    assert summary["departures"] == [] and summary["illustrative"] is None
    assert "illustrative" not in text_of(html).lower()
    assert '<div class="departure-banner">' not in html


@pytest.mark.parametrize("accuracies,first", [
    ({"mlp": [0.40], "cnn": [0.41], "cnn_bn": [0.42]},
     "With fewer than 3 healthy seeds per model no test over training runs is possible, so all 3 models share "
     "the first rank."),
    # Two seeds: no interval over seeds for a mean, so no test over training runs for a difference either.
    ({"mlp": [0.40, 0.41], "cnn": [0.80, 0.81]},
     "With fewer than 3 healthy seeds per model no test over training runs is possible, so both models share "
     "the first rank."),
    ({"mlp": [0.60, 0.61, 0.60], "cnn": [0.61, 0.60, 0.61], "cnn_bn": [0.30, 0.31, 0.30]},
     "The Holm-adjusted tests over training runs cannot tell CNN and MLP apart: these 2 models share the first "
     "rank."),
    ({"mlp": [0.60, 0.61, 0.60], "cnn": [0.61, 0.60, 0.61]},
     "The Holm-adjusted test over training runs cannot tell the two models apart: both share the first rank."),
    ({"mlp": [0.40, 0.41, 0.40], "cnn": [0.80, 0.81, 0.80], "cnn_bn": [0.41, 0.40, 0.41]},
     "CNN alone ranks first: the Holm-adjusted tests over training runs put it above every other model."),
])
def test_the_first_rank_sentence_counts_the_models_that_share_it(tmp_path, accuracies, first):
    summary, html = render(memory_artifacts(tmp_path, accuracies))
    shared = sum(r["rank"] == 1 for r in summary["ranking"])
    assert first in text_of(page_one(html))
    assert (f"these {shared} models" in first) or ("both" in first and shared == 2) or \
        (f"all {shared} models" in first and shared == len(accuracies)) or ("alone" in first and shared == 1)
    assert "the two share" not in html and "all 1 pairwise" not in html
    # Without a test (one seed) there is no column of adjusted p-values to leave empty.
    assert ("Holm p" in page_one(html)) == (summary["family"]["size"] > 0)


def test_calibration_is_worded_as_over_or_under_confidence_with_the_gap_in_points(smoke):
    section = text_of(comparison(smoke["html"]).split("<h3>Calibration</h3>")[1])
    for name, e in smoke["summary"]["models"].items():
        d = e["calibration"]["direction"]
        assert d["direction"] == "over"  # the simulated logits put ~99 % confidence on 30-62 % accuracy
        assert f"{e['title']} is over-confident: its mean confidence, {100 * d['mean_confidence']:.1f} %, exceeds " \
            f"its accuracy, {100 * d['accuracy']:.1f} %, by {100 * d['gap']:.1f} points" in section
    assert "Calibration means little for CNN, which did not learn" in section
    assert "under-confident" not in section


def test_tables_and_figures_of_page_one_and_the_comparison_are_numbered_and_referred_to(smoke):
    html = smoke["html"]
    for cls in ("metrics headline", "metrics learning", "compact ranking", "metrics wide pairs", "compact methods"):
        caption = re.search(rf'<table class="{cls}">\s*<caption>(.*?)</caption>', html, re.S).group(1)
        assert re.match(r"Table \d+\. ", text_of(caption)), cls
    # The ranking's rule is said once, in its caption, which names the table of tests.
    pairs = re.search(r"Table (\d+)\. Every pair of models", text_of(html)).group(1)
    # The reference is a link to the table's anchor (outputs.Numbering).
    assert re.search(rf"Table \d+\. Ranking by mean test accuracy .*?separates them \( ?Table {pairs} ?\)", text_of(html))
    assert f'<a class="ref" href="#table-{pairs}">Table {pairs}</a>' in html and f'id="table-{pairs}"' in html
    assert "orders the models" not in text_of(html)
    assert re.search(r"Figure \d+\. Reliability diagram", text_of(html))


def test_the_departure_banner_names_the_profile_once_and_the_comparison_is_compact(smoke):
    first = page_one(smoke["html"])
    banner = text_of(re.search(r'<div class="departure-banner">.*?</div>', first, re.S).group(0))
    profile = next(d for d in smoke["summary"]["departures"] if d["what"] == "profile")
    assert profile["sentence"] not in banner and "instead of" in banner  # sizes and epochs stay listed
    # Tested pairs: one row each (the per-seed McNemar rows shrink to a count); no verdict repeats the numbers.
    pairs = re.search(r'<table class="metrics wide pairs">.*?</table>', comparison(smoke["html"]), re.S).group(0)
    rows = re.findall(r"<tr>.*?</tr>", pairs.split("<tbody>")[1], re.S)
    assert len(rows) == len(smoke["summary"]["pairs"]) == 3
    for row, p in zip(rows, smoke["summary"]["pairs"]):
        cells = [text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        assert cells[4] == f"{p['n_a_better']} / {p['n_b_better']} of {p['n_seeds']}"
        assert cells[5] in (f"{p['a_title']} better", "no established difference") and "points" not in cells[5]


def test_the_reliability_caption_explains_the_lower_panel_and_the_hollow_points(smoke):
    caption = text_of(re.search(r"<figcaption>((?:<span[^>]*>)?Figure \d+\.(?:</span>)? Reliability diagram.*?)</figcaption>",
                                comparison(smoke["html"]), re.S).group(1))
    assert "Lower panel: the number of predictions in each bin, on a log scale" in caption
    assert "hollow points mark bins with fewer than 100 predictions" in caption
    # Every chart is printed as PNG (bench.render.plots says why); none as SVG.
    assert 'src="data:image/svg+xml' not in smoke["html"] and smoke["html"].count('src="data:image/png') >= 4


def test_negative_differences_print_the_minus_sign_in_english(smoke):
    for part in (page_one(smoke["html"]), comparison(smoke["html"])):
        cells = " ".join(re.findall(r'<td class="num">(.*?)</td>', part, re.S))
        assert MINUS in cells
        assert not re.search(r"(?<![\w-])-\d", text_of(cells)), re.findall(r".{10}(?<![\w-])-\d.{5}", text_of(cells))


@pytest.mark.slow
def test_page_one_of_the_pdf_holds_the_results_and_the_caveat(smoke):
    import io

    from pypdf import PdfReader

    pdf = outputs.render_pdf(smoke["html"])
    first = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    flat = re.sub(r"\s+", " ", first)
    assert "Results" in flat and "Table 1." in flat
    for title in ("MLP", "CNN + BN + Dropout", "CNN", "did not learn"):
        assert title in flat
    assert "These numbers are illustrative" in flat
