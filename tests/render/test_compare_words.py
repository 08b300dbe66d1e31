"""bench.render.compare on in-memory runs: the words of `bench compare`, in English and in Persian (no PDF)."""

import re
import sys
from pathlib import Path

import pytest

from bench.render import compare as page
from bench.render import i18n
from bench.results.compare import compare_artifacts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "results"))  # tests/results/memory_run.py
from memory_run import memory_artifacts  # noqa: E402


def data(root, b_accuracies=(0.70, 0.71, 0.69, 0.70), **kw):
    a = memory_artifacts(root / "a", {"mlp": [0.50, 0.52, 0.51], "cnn": [0.6]})
    b = memory_artifacts(root / "b", {"mlp": list(b_accuracies)}, **kw)
    return compare_artifacts(a, b, Path("run-a"), Path("run-b"))


def worded(d, lang="en"):
    with i18n.activated(i18n.Language(lang)):
        return page.worded(d)


def test_english_sentences_follow_the_numbers(tmp_path):
    s = worded(data(tmp_path))
    e = s["models"]["mlp"]
    for r in e["per_seed"]:  # each seed: two trained networks, never a verdict about the runs
        assert r["verdict"] == "B's network more accurate"
        assert r["sentence"].startswith("B's network is more accurate than A's for MLP (+")
        assert r["sentence"].endswith(f"at seed {r['seed']}.") and "mid-p McNemar p < 0.001" in r["sentence"]
        assert r["mcnemar"]["test"].startswith("mid-p McNemar test with Tango's score interval")
    o = e["overall"]  # the runs: the configuration-level test over 3 seeds of A and 4 of B, not paired
    assert o["verdict"] == "B more accurate"
    assert o["sentence"].startswith("B is more accurate than A for MLP (+19.00 points [")
    assert "over 3 seeds of A and 4 of B, unpaired: the runs do not share their seeds" in o["sentence"]
    assert s["test_set"]["sentence"].startswith("Both runs were evaluated on the same 1,000 test images")
    assert s["differences_headline"] == "no recorded setting differs between the runs"
    assert "differ" not in s["test_set"] and "missing_side" not in e


def test_no_difference_names_why(tmp_path):
    s = worded(data(tmp_path, b_accuracies=(0.50, 0.52, 0.51)))
    r = s["models"]["mlp"]["per_seed"][0]
    assert r["verdict"] == "networks not distinguished"
    assert r["sentence"].startswith("The two networks of MLP are not distinguished (+0.00 points")
    o = s["models"]["mlp"]["overall"]  # the same seeds on both sides: paired by seed
    assert o["verdict"] == "no difference established" and "paired by seed" in o["sentence"]
    assert o["acc_diff_ci"] is None or o["acc_diff_ci"]["low"] <= 0 <= o["acc_diff_ci"]["high"]


def test_one_seed_a_side_is_not_tested_as_a_configuration(tmp_path):
    a = memory_artifacts(tmp_path / "a", {"mlp": [0.50]})
    b = memory_artifacts(tmp_path / "b", {"mlp": [0.70]})
    e = worded(compare_artifacts(a, b, Path("a"), Path("b")))["models"]["mlp"]
    assert e["per_seed"][0]["verdict"] == "B's network more accurate"  # the checkpoints differ...
    assert e["overall"]["verdict"] == "not tested (too few seeds)"  # ...but nothing is said about the runs
    assert e["overall"]["decision"] == "none"


def test_two_seeds_a_side_are_compared_network_by_network_only(tmp_path):
    # Two seeds give the between-seed variance one degree of freedom: no test over training runs, as no interval
    # over seeds for a mean; the seeds' networks are still compared, each pair on its own.
    a = memory_artifacts(tmp_path / "a", {"mlp": [0.50, 0.52]})
    b = memory_artifacts(tmp_path / "b", {"mlp": [0.70, 0.71]})
    e = worded(compare_artifacts(a, b, Path("a"), Path("b")))["models"]["mlp"]
    assert [r["verdict"] for r in e["per_seed"]] == ["B's network more accurate"] * 2
    assert e["overall"]["verdict"] == "not tested (too few seeds)" and e["overall"]["decision"] == "none"
    assert "needs at least 3 healthy seeds in each run (A 2, B 2)" in e["overall"]["sentence"]


def test_unpaired_sentence_has_no_test(tmp_path):
    s = worded(data(tmp_path, b_accuracies=(0.8,), test=500, label_seed=7))
    u = s["models"]["mlp"]["unpaired"]
    assert u["sentence"].startswith("Not paired for MLP (different test sets): A 51.00 % [")
    assert "McNemar" not in u["sentence"] and u["verdict"] == "not paired; intervals disjoint (B higher)"
    assert "test-set digests and test labels differ (1,000 vs 500 images)" in s["test_set"]["sentence"]


def test_terminal_table_in_english(tmp_path):
    table = page.format_table(worded(data(tmp_path)))
    head = next(line for line in table.splitlines() if line.startswith("model"))
    assert head.split() == ["model", "seeds", "acc", "A", "%", "acc", "B", "%", "diff", "B-A", "[95",
                            "%", "CI]", "p", "verdict"]
    assert "mlp (runs)  0,1,2 vs 0,1,2,3" in table and "only in A: cnn" in table


def _persian_letters(html: str) -> int:
    body = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return len(re.findall(r"[\u0600-\u06FF]", re.sub(r"<[^>]+>", " ", body)))


def test_compare_page_in_persian_is_persian_throughout(tmp_path):
    """`bench compare --lang fa`: every sentence from the catalogue, right to left, in Persian digits."""
    fa = i18n.Language("fa")
    s = worded(data(tmp_path), "fa")
    html = page.render_html(s, lang=fa, summary_name="c.summary.json")
    assert html.startswith('<!doctype html>\n<html lang="fa" dir="rtl">')
    assert _persian_letters(html) > 1000
    for english in ("Summary", "The two runs", "Results", "What differs", "Methods", "more accurate",
                    "Both runs were evaluated", "Every recorded setting", "Intervals are"):
        assert english not in html, english
    assert "صحتی بالاتر از A دارد" in i18n.strip_bidi(s["models"]["mlp"]["overall"]["sentence"])
    assert "۱٬۰۰۰" in s["test_set"]["sentence"]
    english = page.render_html(worded(data(tmp_path / "en")), lang=i18n.Language(), summary_name="c.summary.json")
    assert _persian_letters(english) == 0
    table = page.format_table(s, lang="fa")
    assert table.splitlines()[4].startswith("مدل") and "B صحت بالاتری دارد" in i18n.strip_bidi(table)


def test_numbers_are_the_same_in_both_languages(tmp_path):
    d = data(tmp_path)
    en, fa = worded(d), worded(d, "fa")
    assert en["models"]["mlp"]["overall"]["mean_acc_diff"] == fa["models"]["mlp"]["overall"]["mean_acc_diff"]
    assert en["models"]["mlp"]["per_seed"][0]["mcnemar"]["p_value"] == \
        fa["models"]["mlp"]["per_seed"][0]["mcnemar"]["p_value"]


@pytest.mark.parametrize("template", sorted(p.name for p in (Path(page.outputs.TEMPLATES_DIR)).glob("*.j2")))
def test_no_template_names_the_transfer_model(template):
    assert not re.search("vgg", (Path(page.outputs.TEMPLATES_DIR) / template).read_text(), re.IGNORECASE)


@pytest.mark.parametrize("code,wanted", [("en", "2026-12-02, 04:29 UTC"),
                                         ("fa", "۱۱ آذر ۱۴۰۵ (۲ دسامبر ۲۰۲۶)، ساعت ۰۴:۲۹ به وقت UTC")])
def test_finish_time_is_a_date_and_time_not_iso(tmp_path, code, wanted):
    """The runs table gives when each run finished as a reader writes it (UTC, to the minute), in both languages."""
    pytest.importorskip("jdatetime")
    d = data(tmp_path)
    d["a"]["finished_at"] = "2026-12-02T06:29:18.599+02:00"  # a local time: shown in UTC
    d["a"]["device_name"] = "x86_64 CPU, 2 threads"  # an old run's device line: worded, not printed in English
    lang = i18n.Language(code)
    with i18n.activated(lang):
        s = page.worded(d)
    html = page.render_html(s, lang=lang, summary_name="c.summary.json")
    row = re.search(r"<tr><th>[^<]*</th><td>([^\n]*?UTC[^\n]*?)</td><td>", html)
    assert row and i18n.strip_bidi(re.sub(r"<[^>]+>", "", row.group(1))) == wanted
    assert "T06:29" not in html and "+02:00" not in html
    device = i18n.strip_bidi(s["a"]["device_text"])
    assert device == ("x86_64 CPU, 2 torch threads" if code == "en" else "پردازندهٔ x86_64، ۲ ریسهٔ torch")
    # the verdict sentences name a model by its title, as the tables do
    assert "MLP" in i18n.strip_bidi(s["models"]["mlp"]["overall"]["sentence"])
