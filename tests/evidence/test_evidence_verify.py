"""`bench verify REPORT.pdf`'s four checks (bench.evidence.verify) on a report's attachments and text held in
memory: a faithful report passes; each kind of tampering is refused with one line naming what disagrees.

Two kinds of forger: a careless one edits an embedded file and keeps the old index ("old index"); a careful one
re-embeds everything with a fresh index, table and text, keeping only the summary it wants to show ("fresh").
The PDF round trip of the same cases is in test_evidence_pdf.py (slow: it renders PDFs).
"""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import evidence_synth as synth
from bench.errors import BenchError
from bench.evidence import collect, embedded_set, evidence_files
from bench.evidence.verify import verify_files

SUMMARY = "report.summary.json"


def build(run_dir, summary: bytes | None = None, *, drop: tuple = ()):
    """(attachments, text) of the toy report of `run_dir`, as a PDF would hold them; `summary` the summary to
    show (default: recomputed), `drop` attachments left out of everything (index, table, PDF)."""
    summary = synth.summary_bytes(run_dir) if summary is None else summary
    files = [f for f in evidence_files(run_dir) if f.path not in drop]
    embedded = embedded_set(files, summary_name=SUMMARY, summary_bytes=summary)
    text = synth.visible_text(synth.report_html(json.loads(summary), embedded))
    return {f.path: f.data for f in embedded}, text


def verify(files, text, formatted=synth.formatted):
    return verify_files(Path("report.pdf"), files, text, recompute=synth.recompute, formatted_numbers=formatted)


@pytest.fixture
def run_dir(tmp_path):
    return synth.make_run(tmp_path / "run")


@pytest.fixture
def report(run_dir):
    return build(run_dir)


def refused(files, text, pattern):
    with pytest.raises(BenchError, match=pattern) as info:
        verify(files, text)
    assert "\n" not in str(info.value) and str(info.value).startswith("report.pdf: ")
    assert "/tmp" not in str(info.value)
    return str(info.value)


def test_a_faithful_report_verifies_with_one_line_per_check(report):
    findings = verify(*report)
    assert [line.split(":")[0] for line in findings] == ["digests", "numbers", "text", "protocol", "report.pdf"]
    assert findings[0] == "digests: 11 embedded files match evidence.json (size and SHA-256)"
    assert findings[1] == "numbers: 10 numbers of report.summary.json recomputed from the embedded files agree"
    assert "6 decimal numbers and percentages on 1 page are" in findings[2]
    assert findings[-1] == "report.pdf: 10 numbers follow from the embedded predictions of 2 models x 1 seed"


def test_without_a_formatter_the_printed_numbers_are_not_checked(report):
    assert "printed numbers not checked" in verify(*report, formatted=None)[2]


def test_two_seeds_are_counted(tmp_path):
    files, text = build(synth.make_run(tmp_path / "run2", seeds=(0, 1)))
    assert verify(files, text)[-1].endswith("of 2 models x 2 seeds")


# ---- 1. digests ----

def test_altered_predictions_under_the_old_index_are_named(run_dir, report):
    files, text = report
    files["mlp/seed-0/predictions.npz"] = synth.predictions(7, 3.0, np.zeros(200, int))
    refused(files, text, r"mlp/seed-0/predictions\.npz \(model mlp, seed 0\) does not match evidence\.json")


def test_a_removed_attachment_under_the_old_index_is_named(report):
    files, text = report
    del files["cnn/seed-0/history.csv"]
    refused(files, text, r"cnn/seed-0/history\.csv \(model cnn, seed 0\) is listed in evidence\.json but not "
                         "embedded")


def test_an_edited_summary_under_the_old_index_is_named(report):
    files, text = report
    files[SUMMARY] = files[SUMMARY].replace(b'"n": 200', b'"n": 201')
    refused(files, text, r"report\.summary\.json does not match evidence\.json")


def test_an_unlisted_or_foreign_attachment_is_refused(report):
    files, text = report
    refused({**files, "cnn/seed-1/metrics.json": b"{}"}, text, r"cnn/seed-1/metrics\.json .* not listed in "
                                                                 r"evidence\.json")
    refused({**files, "../../etc/cron.d/x": b""}, text, "no file bench embeds")
    refused({k: v for k, v in files.items() if k != collect.INDEX}, text, "no evidence.json")
    refused({}, text, "no embedded evidence")


# ---- 2. numbers ----

def test_altered_predictions_re_embedded_with_a_fresh_index_are_named(run_dir, report):
    summary = report[0][SUMMARY]
    shutil.copy(run_dir / "cnn/seed-0/predictions.npz", run_dir / "mlp/seed-0/predictions.npz")
    message = refused(*build(run_dir, summary), r"models\.mlp\.mean_accuracy is .* in report\.summary\.json but "
                                                r".* recomputed from the embedded files")
    assert message.endswith("it comes from mlp/seed-0/predictions.npz (model mlp, seed 0)")


def test_metrics_swapped_between_models_are_named(run_dir, report):
    summary = report[0][SUMMARY]
    a, b = run_dir / "mlp/seed-0/metrics.json", run_dir / "cnn/seed-0/metrics.json"
    a_bytes = a.read_bytes()
    a.write_bytes(b.read_bytes().replace(b'"cnn"', b'"mlp"'))
    b.write_bytes(a_bytes.replace(b'"mlp"', b'"cnn"'))
    message = refused(*build(run_dir, summary), r"models\.cnn\.per_seed\[0\]\.loss")
    assert message.endswith("it comes from cnn/seed-0/metrics.json (model cnn, seed 0)")


def test_a_summary_edited_and_re_indexed_is_named(run_dir, report):
    summary = json.loads(report[0][SUMMARY])
    summary["models"]["cnn"]["mean_accuracy"] += 0.01
    refused(*build(run_dir, json.dumps(summary).encode()), r"models\.cnn\.mean_accuracy is .* it comes from "
                                                           r"cnn/seed-0/predictions\.npz")


def test_a_removed_attachment_re_indexed_is_refused_by_the_reports_own_loader(run_dir, report):
    refused(*build(run_dir, report[0][SUMMARY], drop=("mlp/seed-0/predictions.npz",)),
            r"report\.pdf: missing artifact: mlp/seed-0/predictions\.npz$")


# ---- 3. text ----

def test_an_edited_number_in_the_visible_text_is_named(report):
    files, text = report
    acc = 100 * json.loads(files[SUMMARY])["models"]["mlp"]["per_seed"][0]["accuracy"]
    assert f"{acc:.2f} %" in text
    refused(files, text.replace(f"{acc:.2f} %", "99.75 %"), r"page 1 prints 99\.75, which no number of "
                                                            r"report\.summary\.json gives")


def test_an_appendix_that_omits_an_attachment_is_named(report):
    files, text = report
    digest = hashlib.sha256(files["mlp/seed-0/config.json"]).hexdigest()
    refused(files, text.replace(digest, "0" * 64), r"the appendix does not list mlp/seed-0/config\.json")


# ---- 4. protocol ----

def test_configs_swapped_between_models_are_named(run_dir, report):
    summary = report[0][SUMMARY]
    a, b = run_dir / "mlp/seed-0/config.json", run_dir / "cnn/seed-0/config.json"
    a_bytes = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(a_bytes)
    refused(*build(run_dir, summary), r"cnn/seed-0/config\.json \(model cnn, seed 0\) describes mlp seed 0")


def test_an_edited_config_is_named(run_dir, report):
    path = run_dir / "cnn/seed-0/config.json"
    path.write_bytes(path.read_bytes().replace(b'"lr": 0.1', b'"lr": 0.2'))
    refused(*build(run_dir, report[0][SUMMARY]), r"cnn/seed-0/config\.json .*settings do not match its "
                                                 "fingerprint")


def test_a_model_dropped_from_the_evidence_is_named_by_the_manifest(run_dir):
    shutil.rmtree(run_dir / "cnn")
    files, text = build(run_dir)  # the careful forger recomputes the summary without cnn
    refused(files, text, r"manifest\.json records cnn/seed-0 as complete, but its config\.json is not embedded")


def test_predictions_of_another_test_set_are_named(run_dir):
    path = run_dir / "mlp/seed-0/predictions.npz"
    path.write_bytes(synth.predictions(0, 1.0, np.zeros(synth.N_TEST, dtype=int)))
    refused(*build(run_dir), r"mlp/seed-0/predictions\.npz \(model mlp, seed 0\) holds the labels of another "
                             r"test set than dataset\.json")


def test_words_false_accepts_a_summary_worded_in_another_language(run_dir, report):
    files, text = report
    summary = json.loads(files[SUMMARY])
    summary["method"] = "سهم تصاویر آزمون"  # the report's words, in Persian
    forged_files, forged_text = build(run_dir, json.dumps(summary).encode())
    refused(forged_files, forged_text, r"report\.pdf: every number of report\.summary\.json agrees, but 1 of its "
                                       r"sentences differ .*\(first: method\)")
    findings = verify_files(Path("report.pdf"), forged_files, forged_text, recompute=synth.recompute,
                            formatted_numbers=synth.formatted, words=False)
    assert findings[-1].endswith("of 2 models x 1 seed")


def test_a_difference_is_traced_to_the_files_it_comes_from(report):
    from bench.evidence.verify import check_attachments, source_of

    evidence, _ = check_attachments(Path("report.pdf"), report[0])
    summary = {"pairs": [{"a": "cnn", "b": "mlp", "seeds": [{"seed": 0, "acc_diff": 0.1}]}],
               "models": {"mlp": {"aggregate": {"loss": {"mean": 1.5}}, "reference": {"accuracy": 0.5}}}}
    evidence = type(evidence)(evidence.pdf, evidence.files, evidence.summary_name, summary, evidence.runs)
    assert source_of(evidence, ("pairs", 0, "seeds", 0, "acc_diff")) == \
        ("cnn/seed-0/predictions.npz (model cnn, seed 0) and mlp/seed-0/predictions.npz (model mlp, seed 0)", 2)
    assert source_of(evidence, ("models", "mlp", "aggregate", "loss", "mean")) == \
        ("mlp/seed-0/metrics.json (model mlp, seed 0)", 1)
    assert source_of(evidence, ("models", "mlp", "reference", "accuracy")) == ("manifest.json", 0)
    assert source_of(evidence, ("headline", "margin"))[1] == 2  # every model's (here both)


def test_a_damaged_index_or_summary_names_the_pdf(report):
    files, text = report
    refused({**files, collect.INDEX: b"[]"}, text, r"^report\.pdf: evidence\.json is not an evidence index")


def test_evidence_run_names_the_pdf_instead_of_its_temporary_folder(tmp_path):
    """A refusal about the extracted run (`bench report --from`, `bench verify --retrain`) names the PDF and the
    attachment; any other refusal passes unchanged. The PDF is made with pypdf alone (no rendering)."""
    pypdf = pytest.importorskip("pypdf")
    from bench.evidence import evidence_run

    run_dir = synth.make_run(tmp_path / "run")
    writer = pypdf.PdfWriter()
    writer.add_blank_page(100, 100)
    for f in embedded_set(evidence_files(run_dir), summary_name=SUMMARY, summary_bytes=synth.summary_bytes(run_dir)):
        writer.add_attachment(f.path, f.data)
    pdf = tmp_path / "report.pdf"
    with open(pdf, "wb") as fh:
        writer.write(fh)
    with pytest.raises(BenchError) as caught:
        with evidence_run(pdf) as extracted:
            assert (extracted / "mlp" / "seed-0" / "config.json").is_file()
            raise BenchError(f"cannot read {extracted}/mlp/seed-0/config.json")
    assert str(caught.value) == "report.pdf: cannot read mlp/seed-0/config.json"
    with pytest.raises(BenchError, match="^cannot write elsewhere.pdf$"):
        with evidence_run(pdf):
            raise BenchError("cannot write elsewhere.pdf")


def test_a_summary_whose_words_alone_differ_is_blamed_on_another_bench_version(run_dir):
    """Numbers equal, a sentence reworded (as a later bench would word it): not a damaged predictions file."""
    summary = json.loads(synth.summary_bytes(run_dir))
    summary["method"] = "the share of test images classified right"
    files, text = build(run_dir, (json.dumps(summary, indent=1, sort_keys=True) + "\n").encode())
    line = refused(files, text, "sentences differ")
    assert "every number of report.summary.json agrees, but 1 of its sentences differ" in line
    assert "(first: method)" in line and "another version of bench" in line and "predictions" not in line
