"""bench.render.outputs and bench.render.text: one Jinja environment, one PDF engine, one --out rule, one
p-value formatter; and the report's errors: damaged artifacts are refused by the run directory's readers,
a bug of bench propagates as itself."""

import sys
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.render import i18n, outputs, report, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "results"))  # tests/results/memory_run.py
from memory_run import memory_artifacts  # noqa: E402


@pytest.mark.parametrize("p,form,english", [
    (0.0004, "cell", "< 0.001"), (0.1234, "cell", "0.123"), (0.0004, "relation", "< 0.001"),
    (0.1234, "relation", "= 0.123"), (0.0004, "p", "p < 0.001"), (0.1234, "p", "p 0.123"),
    (0.1234, "p=", "p = 0.123"),
])
def test_one_p_value_formatter_in_every_form(p, form, english):
    assert text.p_value(p, form) == english
    with i18n.activated(i18n.Language("fa")):
        assert i18n.strip_bidi(text.p_value(p, form)).replace("۰", "0").replace("٫", ".").replace("۱", "1") \
            .replace("۲", "2").replace("۳", "3") == english


def test_p_value_forms_are_checked():
    with pytest.raises(ValueError, match="cell, relation, p, p="):
        text.p_value(0.5, "percent")


def test_one_environment_with_autoescape_strict_undefined_and_the_catalogue():
    import jinja2

    env = outputs.environment(i18n.Language("fa"))
    assert env.autoescape is True and env.undefined is jinja2.StrictUndefined
    assert env.from_string("{{ _('Summary') }} {{ x }}").render(x="<b>") == "خلاصه &lt;b&gt;"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()


@pytest.mark.parametrize("name,wanted", [("r.pdf", ["r.pdf", "r.html", "r.summary.json"]),
                                         ("r.html", ["r.pdf", "r.html", "r.summary.json"])])
def test_one_out_rule_for_every_page(tmp_path, monkeypatch, name, wanted):
    monkeypatch.setattr(outputs, "render_pdf", lambda html: b"%PDF-1.7 " + html.encode())
    written = outputs.write_outputs(tmp_path / name, "<html></html>", {"b": 1, "a": [0.5]})
    assert [p.name for p in written] == wanted
    assert (tmp_path / "r.summary.json").read_text() == '{\n  "a": [\n    0.5\n  ],\n  "b": 1\n}\n'


def test_without_a_pdf_engine_html_still_gets_its_page(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # makes `import weasyprint` raise ImportError
    notes = []
    written = outputs.write_outputs(tmp_path / "r.html", "<html></html>", {}, log=notes.append)
    assert [p.name for p in written] == ["r.html", "r.summary.json"] and "no PDF written" in notes[0]
    with pytest.raises(BenchError, match="PDF rendering needs WeasyPrint"):
        outputs.write_outputs(tmp_path / "s.pdf", "<html></html>", {})
    assert not (tmp_path / "s.html").exists()


def test_check_out_refuses_what_cannot_be_written(tmp_path):
    with pytest.raises(BenchError, match=r"--out must end in \.pdf or \.html, got 'r.docx'"):
        outputs.check_out(tmp_path / "r.docx")
    (tmp_path / "r.summary.json").mkdir()
    with pytest.raises(BenchError, match="it is a directory"):
        outputs.check_out(tmp_path / "r.pdf")


def test_a_bug_of_bench_is_not_reported_as_a_damaged_artifact(tmp_path, monkeypatch):
    arts = memory_artifacts(tmp_path, {"mlp": [0.5]})
    monkeypatch.setattr(report, "load_artifacts", lambda root: arts)

    def broken(artifacts):
        raise KeyError("a key this code forgot")

    monkeypatch.setattr(report, "analyse", broken)
    with pytest.raises(KeyError, match="a key this code forgot"):
        report.render_report(tmp_path, tmp_path / "r.html")
    assert list(tmp_path.glob("r.*")) == []


@pytest.mark.slow
def test_the_report_renders_from_memory_with_a_transfer_model_found_by_its_structure(tmp_path):
    from memory_run import TRANSFER

    structure = {"pretrained_backbone": True, "blocks": 4, "frozen_blocks": 2, "head": [256, 10]}
    arts = memory_artifacts(tmp_path, {"mlp": [0.5], TRANSFER: [0.8]}, transfer=structure)
    context = report.build_context(arts, report.analyse(arts), title=None, author="", affiliation="", data_dir=None)
    assert context["transfer"]["title"] == TRANSFER and context["transfer"]["head"] == "256→10"
    html = report.render_html(context)
    assert "keeps the first 2 of its 4 convolutional blocks frozen" in html
    assert "ImageNet-pretrained conv blocks (1-2 frozen, 3-4 tuned), global pool, head 256-10" in html
