"""The evidence in a real PDF: WeasyPrint embeds it (PDF/A-3b, tagged), pypdf reads it back, verify_pdf checks
it, and a tampered PDF is refused by name. Slow: every test renders PDFs."""

import hashlib
import json
from pathlib import Path

import pytest

import evidence_synth as synth
from bench.errors import BenchError
from bench.evidence import (ARCHIVAL_OPTIONS, attachment_args, embedded_set, evidence_files, pdf_metadata,
                            pdf_text, read_attachments, verify_pdf)

pytestmark = pytest.mark.slow
weasyprint = pytest.importorskip("weasyprint")
pytest.importorskip("pypdf")

SUMMARY = "report.summary.json"
GOLDEN_RUN = Path("/work/golden/runA")
GOLDEN_SUMMARY = Path("/work/golden/outA/report.summary.json")


def render(page: str, attachments=None) -> bytes:
    return weasyprint.HTML(string=page).render().write_pdf(attachments=attachments, **ARCHIVAL_OPTIONS)


def report_pdf(run_dir: Path, out: Path, *, summary: bytes | None = None, edit=None, lang="en",
               name=SUMMARY) -> Path:
    """The toy report of `run_dir` as a PDF with its evidence, as the renderer will write it."""
    summary = synth.summary_bytes(run_dir) if summary is None else summary
    files = evidence_files(run_dir)
    page = synth.report_html(json.loads(summary), embedded_set(files, summary_name=name,
                                                               summary_bytes=summary), lang=lang)
    page = edit(page) if edit else page
    out.write_bytes(render(page, attachment_args(files, summary_name=name, summary_bytes=summary)))
    return out


def reembed(pdf: Path, out: Path, files: dict[str, bytes], page: str) -> Path:
    """`page` rendered with exactly `files` attached (a forger's hand-made PDF, old index and all)."""
    attachments = [weasyprint.Attachment(string=data, name=name) for name, data in sorted(files.items())]
    out.write_bytes(render(page, attachments))
    return out


def verify(pdf: Path):
    return verify_pdf(pdf, recompute=synth.recompute, formatted_numbers=synth.formatted)


@pytest.fixture
def run_dir(tmp_path):
    return synth.make_run(tmp_path / "run")


@pytest.fixture
def pdf(run_dir, tmp_path):
    return report_pdf(run_dir, tmp_path / "report.pdf")


def toy_page(run_dir: Path, summary: bytes) -> str:
    files = evidence_files(run_dir)
    return synth.report_html(json.loads(summary), embedded_set(files, summary_name=SUMMARY, summary_bytes=summary))


def test_embedded_files_read_back_exactly_and_verify(run_dir, pdf):
    attached = read_attachments(pdf)
    summary = synth.summary_bytes(run_dir)
    expected = embedded_set(evidence_files(run_dir), summary_name=SUMMARY, summary_bytes=summary)
    assert attached == {f.path: f.data for f in expected}
    assert "checkpoint.pt" not in " ".join(attached)
    findings = verify(pdf)
    assert findings[-1] == "report.pdf: 10 numbers follow from the embedded predictions of 2 models x 1 seed"
    assert findings[2].startswith("text: 6 decimal numbers and percentages on 1 page are the summary's")


def test_the_pdf_is_archival_tagged_and_described(run_dir, tmp_path):
    import pypdf

    for lang in ("en", "fa"):
        pdf = report_pdf(run_dir, tmp_path / f"report-{lang}.pdf", lang=lang)
        assert pdf_metadata(pdf) == {"title": "Toy report", "author": "H6", "subject": "evidence test",
                                     "keywords": "cifar-10, evidence", "language": lang}
        root = pypdf.PdfReader(pdf).trailer["/Root"]
        assert "/StructTreeRoot" in root and root["/MarkInfo"]["/Marked"]  # tagged
        assert len(root["/AF"]) >= 12  # PDF/A-3 associated files
        xmp = root["/Metadata"].get_object().get_data()
        assert b'pdfaid:part="3"' in xmp and b'pdfaid:conformance="B"' in xmp


def test_the_same_run_renders_the_same_bytes(run_dir, tmp_path):
    a = report_pdf(run_dir, tmp_path / "a.pdf").read_bytes()
    b = report_pdf(run_dir, tmp_path / "b.pdf").read_bytes()
    assert a == b


def test_tampered_predictions_under_the_old_index_are_refused(run_dir, pdf, tmp_path):
    import numpy as np

    files = read_attachments(pdf)
    files["cnn/seed-0/predictions.npz"] = synth.predictions(5, 4.0, np.zeros(synth.N_TEST, dtype=int))
    forged = reembed(pdf, tmp_path / "forged.pdf", files, toy_page(run_dir, files[SUMMARY]))
    with pytest.raises(BenchError, match=r"^forged\.pdf: cnn/seed-0/predictions\.npz \(model cnn, seed 0\) does "
                                         r"not match evidence\.json"):
        verify(forged)


def test_a_config_swapped_between_models_is_refused(run_dir, pdf, tmp_path):
    summary = read_attachments(pdf)[SUMMARY]
    a, b = run_dir / "mlp/seed-0/config.json", run_dir / "cnn/seed-0/config.json"
    a_bytes = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(a_bytes)
    forged = report_pdf(run_dir, tmp_path / "forged.pdf", summary=summary)  # fresh index, table and text
    with pytest.raises(BenchError, match=r"^forged\.pdf: cnn/seed-0/config\.json \(model cnn, seed 0\) describes "
                                         "mlp seed 0"):
        verify(forged)


def test_a_removed_attachment_is_refused(run_dir, pdf, tmp_path):
    files = read_attachments(pdf)
    del files["mlp/seed-0/metrics.json"]
    forged = reembed(pdf, tmp_path / "forged.pdf", files, toy_page(run_dir, files[SUMMARY]))
    with pytest.raises(BenchError, match=r"^forged\.pdf: mlp/seed-0/metrics\.json \(model mlp, seed 0\) is listed "
                                         r"in evidence\.json but not embedded"):
        verify(forged)


def test_an_edited_visible_number_is_refused(run_dir, tmp_path):
    summary = json.loads(synth.summary_bytes(run_dir))
    shown = f"{100 * summary['models']['cnn']['mean_accuracy']:.1f} %"
    forged = report_pdf(run_dir, tmp_path / "forged.pdf", edit=lambda page: page.replace(shown, "97.5 %"))
    assert "97.5 %" in pdf_text(forged)
    with pytest.raises(BenchError, match=r"^forged\.pdf: page 1 prints 97\.5, which no number of "
                                         r"report\.summary\.json gives"):
        verify(forged)


def test_a_pdf_without_evidence_is_refused(tmp_path):
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(render("<p>0.5</p>"))
    with pytest.raises(BenchError, match=r"^plain\.pdf: no embedded evidence"):
        verify(plain)
    not_pdf = tmp_path / "not.pdf"
    not_pdf.write_bytes(b"%PDF-1.7 garbage")
    with pytest.raises(BenchError, match="not.pdf"):
        verify(not_pdf)


@pytest.mark.skipif(not GOLDEN_RUN.is_dir(), reason="needs the golden smoke run (/work/golden/runA)")
def test_the_smoke_studys_evidence_stays_under_3_mb():
    files = evidence_files(GOLDEN_RUN)
    summary = GOLDEN_SUMMARY.read_bytes()
    page = "<!doctype html><html lang=en><title>size</title><p>evidence</p></html>"
    plain = render(page)
    with_evidence = render(page, attachment_args(files, summary_name=SUMMARY, summary_bytes=summary))
    added = len(with_evidence) - len(plain)
    assert 400_000 < added < 3_000_000  # measured: 541,613 bytes (samples.png 364,921 of them; JSON compresses)
    assert len({f.path.split("/")[0] for f in files if f.path.count("/") == 2}) == 4
    assert hashlib.sha256(with_evidence).digest() == hashlib.sha256(
        render(page, attachment_args(files, summary_name=SUMMARY, summary_bytes=summary))).digest()


def test_evidence_run_gives_back_the_run_directory_for_report_from_and_retrain(run_dir, pdf):
    from bench.evidence import evidence_run

    with evidence_run(pdf) as extracted:
        got = {str(p.relative_to(extracted)): p.read_bytes() for p in extracted.rglob("*") if p.is_file()}
        assert synth.recompute(extracted) == json.loads(synth.summary_bytes(run_dir))
    assert got == {f.path: f.data for f in evidence_files(run_dir)}
    assert not extracted.exists()


def test_a_report_named_in_persian_keeps_its_summary_name(run_dir, tmp_path):
    pdf = report_pdf(run_dir, tmp_path / "گزارش نهایی.pdf", name="گزارش نهایی.summary.json")
    assert "گزارش نهایی.summary.json" in read_attachments(pdf)
    assert verify(pdf)[1].startswith("numbers: 10 numbers of گزارش نهایی.summary.json recomputed")
