"""Issue 23 through the CLI: `bench report` embeds its evidence in an archival PDF, `bench verify REPORT.pdf`
checks the report against it (and refuses a tampered one by name, in one line), `--no-evidence` leaves it out,
`bench report --from` renders again from it, and `--retrain` reproduces the embedded run bitwise.

The tests that render a PDF are slow; the refusals before any rendering are fast."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import cli
from conftest import assert_one_line_error

TITLE = "Tiny benchmark"
AUTHOR = "A. Reviewer"


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def rewrite(pdf: Path, out: Path, files: dict[str, bytes]) -> Path:
    """`pdf` with its embedded files replaced by `files` (pages and metadata kept): a forger's PDF."""
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(pdf))
    del writer.root_object["/Names"]["/EmbeddedFiles"]
    for name, data in sorted(files.items()):
        writer.add_attachment(name, data)
    with open(out, "wb") as fh:
        writer.write(fh)
    return out


def reindexed(files: dict[str, bytes]) -> dict[str, bytes]:
    """`files` with a fresh evidence.json, as a careful forger would write it."""
    from bench.evidence.collect import INDEX, index_file, make_file

    rest = [make_file(name, data) for name, data in files.items() if name != INDEX]
    return {**{f.path: f.data for f in rest}, INDEX: index_file(rest).data}


# ------------------------------------------------------------------------------------------------ fast

def test_report_takes_a_run_directory_or_a_pdf_not_both(tmp_path):
    assert "ARTIFACTS_DIR or --from" in assert_one_line_error(invoke("report", "--out", tmp_path / "r.pdf"))
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    line = assert_one_line_error(invoke("report", tmp_path, "--from", pdf, "--out", tmp_path / "r.pdf"))
    assert "not both" in line


def test_verify_refuses_a_file_that_is_not_a_pdf_in_one_line(tmp_path):
    pytest.importorskip("pypdf")
    fake = tmp_path / "report.pdf"
    fake.write_bytes(b"not a pdf at all")
    assert "is not a readable PDF" in assert_one_line_error(invoke("verify", fake))


def test_report_from_a_pdf_without_evidence_is_refused_by_name(tmp_path):
    pytest.importorskip("pypdf")
    import pypdf

    plain = tmp_path / "plain.pdf"
    writer = pypdf.PdfWriter()
    writer.add_blank_page(100, 100)
    with open(plain, "wb") as fh:
        writer.write(fh)
    line = assert_one_line_error(invoke("report", "--from", plain, "--out", tmp_path / "r.pdf"))
    assert "plain.pdf: no embedded evidence" in line
    assert not (tmp_path / "r.pdf").exists()


# ------------------------------------------------------------------------------------------------ slow

@pytest.fixture(scope="module")
def en_report(tiny_run, tmp_path_factory) -> Path:
    pytest.importorskip("weasyprint")
    pytest.importorskip("pypdf")
    out = tmp_path_factory.mktemp("en") / "report.pdf"
    result = invoke("report", tiny_run, "--out", out, "--title", TITLE, "--author", AUTHOR)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_the_pdf_embeds_exactly_the_evidence_the_appendix_lists(tiny_run, en_report):
    from bench.evidence import embedded_set, evidence_files, read_attachments

    summary = en_report.with_suffix(".summary.json").read_bytes()
    expected = embedded_set(evidence_files(tiny_run), summary_name="report.summary.json", summary_bytes=summary)
    attached = read_attachments(en_report)
    # The summary on disk is, byte for byte, the one embedded; no checkpoint travels.
    assert attached == {f.path: f.data for f in expected}
    assert attached["report.summary.json"] == summary
    assert not any(name.endswith(".pt") for name in attached)
    html = en_report.with_suffix(".html").read_text()
    assert "Embedded evidence" in html and "bench verify report.pdf" in html
    for f in expected:  # the HTML's table lists the same files, sizes and digests
        assert f.sha256 in html and f.path in html


@pytest.mark.slow
def test_the_pdf_is_archival_tagged_and_described(en_report):
    import pypdf

    from bench.evidence import pdf_metadata

    meta = pdf_metadata(en_report)
    assert meta["title"] == TITLE and meta["author"] == AUTHOR and meta["language"] == "en"
    assert meta["subject"] and "CIFAR-10" in meta["keywords"] and "MLP" in meta["keywords"]
    root = pypdf.PdfReader(en_report).trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part[^0-9]{1,3}3", xmp) and re.search(r"pdfaid:conformance[^A-Z]{1,3}B", xmp)
    assert root["/MarkInfo"]["/Marked"] and "/StructTreeRoot" in root
    assert "/OutputIntents" in root


@pytest.mark.slow
def test_the_same_run_gives_the_same_bytes(tiny_run, en_report, tmp_path):
    again = tmp_path / "report.pdf"
    result = invoke("report", tiny_run, "--out", again, "--title", TITLE, "--author", AUTHOR)
    assert result.exit_code == 0, result.output
    for suffix in (".pdf", ".html", ".summary.json"):
        assert again.with_suffix(suffix).read_bytes() == en_report.with_suffix(suffix).read_bytes(), suffix


@pytest.mark.slow
def test_verify_accepts_the_report_and_counts_its_numbers(en_report):
    result = invoke("verify", en_report)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == ["digests", "numbers", "text", "protocol"]
    assert re.fullmatch(r"report\.pdf: [\d,]+ numbers follow from the embedded predictions of 2 models x 2 seeds",
                        lines[-1]), lines[-1]
    assert "decimal numbers and percentages" in lines[2] and "not checked" not in lines[2]


@pytest.mark.slow
def test_a_persian_report_and_one_rendered_again_from_the_english_pdf_verify(tiny_run, en_report, tmp_path):
    direct, again = tmp_path / "fa" / "report.pdf", tmp_path / "from" / "report.pdf"
    direct.parent.mkdir()
    again.parent.mkdir()
    result = invoke("report", tiny_run, "--lang", "fa", "--out", direct, "--title", TITLE, "--author", AUTHOR)
    assert result.exit_code == 0, result.output
    result = invoke("report", "--from", en_report, "--lang", "fa", "--out", again, "--title", TITLE,
                    "--author", AUTHOR)
    assert result.exit_code == 0, result.output
    # The evidence is the run: the summary rendered again from it is the one rendered from the run directory.
    assert again.with_suffix(".summary.json").read_bytes() == direct.with_suffix(".summary.json").read_bytes()
    for pdf in (direct, again):
        result = invoke("verify", pdf)
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[-1].endswith("of 2 models x 2 seeds")


@pytest.mark.slow
def test_no_evidence_embeds_nothing_and_verify_says_so(tiny_run, tmp_path):
    from bench.evidence import read_attachments

    out = tmp_path / "bare.pdf"
    result = invoke("report", tiny_run, "--no-evidence", "--out", out)
    assert result.exit_code == 0, result.output
    assert read_attachments(out) == {}
    assert "Embedded evidence" not in out.with_suffix(".html").read_text()
    assert "bare.pdf: no embedded evidence" in assert_one_line_error(invoke("verify", out))


def altered_predictions(data: bytes) -> bytes:
    import numpy as np

    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {k: npz[k].copy() for k in npz.files}
    # A consistent forgery: the logits of 40 images rolled by one class, and the predictions their argmax.
    arrays["logits"][:40] = np.roll(arrays["logits"][:40], 1, axis=1)
    arrays["predicted"] = arrays["logits"].argmax(1).astype(arrays["predicted"].dtype)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def tamper_predictions_old_index(files):
    files["mlp/seed-0/predictions.npz"] = altered_predictions(files["mlp/seed-0/predictions.npz"])
    return files


def tamper_predictions_new_index(files):
    return reindexed(tamper_predictions_old_index(files))


def tamper_swap_configs(files):
    a, b = "mlp/seed-0/config.json", "mlp/seed-1/config.json"
    files[a], files[b] = files[b], files[a]
    return reindexed(files)


def tamper_remove(files):
    del files["cnn/seed-1/history.csv"]
    return files


@pytest.mark.slow
@pytest.mark.parametrize("tamper, named", [
    (tamper_predictions_old_index, "mlp/seed-0/predictions.npz (model mlp, seed 0) does not match evidence.json"),
    # metrics.json records its predictions' SHA-256: the report's loader names the file.
    (tamper_predictions_new_index, "mlp/seed-0/predictions.npz is not the predictions file mlp/seed-0/metrics.json"),
    (tamper_swap_configs, "mlp/seed-0/config.json: it describes mlp seed 1"),
    (tamper_remove, "cnn/seed-1/history.csv (model cnn, seed 1) is listed in evidence.json but not embedded"),
], ids=["predictions", "predictions-reindexed", "configs-swapped", "attachment-removed"])
def test_tampered_evidence_is_refused_by_name(en_report, tmp_path, tamper, named):
    from bench.evidence import read_attachments

    forged = rewrite(en_report, tmp_path / "report.pdf", tamper(read_attachments(en_report)))
    line = assert_one_line_error(invoke("verify", forged))
    assert line.startswith("Error: report.pdf: ") and named in line, line


@pytest.mark.slow
def test_edited_visible_text_is_refused_with_its_page(en_report, tmp_path):
    import weasyprint

    from bench.evidence import read_attachments

    html = en_report.with_suffix(".html").read_text()
    body = html.index("<body")
    shown = re.compile(r"\d+\.\d[ \u00a0]%").search(html, body)  # the first percentage printed (no-break space)
    # That one number changed to one no summary holds; the evidence left alone.
    edited = html[:shown.start()] + "77.777 %" + html[shown.end():]
    attachments = [weasyprint.Attachment(string=data, name=name)
                   for name, data in sorted(read_attachments(en_report).items())]
    forged = tmp_path / "report.pdf"
    forged.write_bytes(weasyprint.HTML(string=edited).render().write_pdf(attachments=attachments))
    line = assert_one_line_error(invoke("verify", forged))
    assert re.search(r"page \d+ prints 77\.777, which no number of report\.summary\.json gives", line), line


@pytest.mark.slow
def test_retrain_reproduces_the_embedded_run_bitwise_on_the_cpu(cifar_root, tmp_path):
    run = tmp_path / "run"
    result = invoke("train", "mlp", "--data-dir", cifar_root, "--no-verify", "--no-download", "--profile", "smoke",
                    "--epochs", "1", "--device", "cpu", "--artifacts", run)
    assert result.exit_code == 0, result.output
    pdf = tmp_path / "report.pdf"
    assert invoke("report", run, "--out", pdf).exit_code == 0
    shutil.rmtree(run)  # the PDF alone: the run directory is gone
    result = invoke("verify", pdf, "--retrain", "--data-dir", cifar_root, "--no-download", "--device", "cpu")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[4].endswith("of 1 model x 1 seed")
    assert re.search(r"^mlp\s+seed 0: identical$", result.output, re.MULTILINE), result.output
