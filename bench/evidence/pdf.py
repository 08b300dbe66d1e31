"""The evidence inside a PDF: what WeasyPrint needs to embed it, and how it is read back.

Embedding: `attachment_args` turns the evidence into WeasyPrint `Attachment`s (document-level embedded files,
each named by its run-directory path), for `document.write_pdf(attachments=..., **ARCHIVAL_OPTIONS)`.
Reading: `read_attachments` (pypdf) and `pdf_text` (poppler's pdftotext when installed, else pypdf).

pypdf and WeasyPrint are imported inside the functions that need them: `bench train`, `bench speed` and
`bench verify RUN_DIR` import this package without either (the GPU machines have no pypdf).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from bench.errors import BenchError
from bench.evidence.collect import MANIFEST, EvidenceFile, index_file, summary_file

# write_pdf options of an archival, accessible report: PDF/A-3 (the part of PDF/A that allows embedded files
# of any type), conformance level B, with a structure tree (pdf_tags) so that readers and screen readers get
# the reading order. WeasyPrint's PDF/A variants also add the sRGB output intent and a file identifier that
# is a digest of the content, so the same input gives the same bytes.
ARCHIVAL_OPTIONS = {"pdf_variant": "pdf/a-3b", "pdf_tags": True}
# PDF/A-3's relation of an embedded file to the document: "Data" = information the visible content (tables,
# figures) is derived from (ISO 32000-2, 7.11.3).
RELATIONSHIP = "Data"
# Embedded files carry creation and modification dates; without a run's date they get this one, never the
# clock's, so that a PDF's bytes depend on its inputs only.
FALLBACK_STAMP = datetime(1980, 1, 1, tzinfo=timezone.utc)


def embedded_set(files: list[EvidenceFile], *, summary_name: str, summary_bytes: bytes) -> list[EvidenceFile]:
    """Everything a report embeds, sorted by path: the run's files, its summary, and the index of both.

    The appendix's table (path, size, SHA-256) lists exactly these; attachment_args embeds exactly these."""
    with_summary = sorted([*files, summary_file(summary_name, summary_bytes)], key=lambda f: f.path)
    return sorted([*with_summary, index_file(with_summary)], key=lambda f: f.path)


def run_stamp(files: list[EvidenceFile]) -> datetime:
    """The run's finishing time (manifest.json's finished_at, else started_at): the embedded files' date."""
    manifest = next((f for f in files if f.path == MANIFEST), None)
    try:
        record = json.loads(manifest.data) if manifest else {}
        stamp = datetime.fromisoformat(record.get("finished_at") or record.get("started_at"))
    except (ValueError, TypeError, AttributeError):
        return FALLBACK_STAMP
    return stamp.astimezone(timezone.utc) if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def attachment_args(files: list[EvidenceFile], *, summary_name: str, summary_bytes: bytes,
                    stamp: datetime | None = None) -> list:
    """The `attachments=` argument of WeasyPrint's write_pdf: one Attachment per file of embedded_set, named
    by its run-directory path, dated `stamp` (default: run_stamp(files)) so that the bytes are stable."""
    import weasyprint

    when = (stamp or run_stamp(files)).astimezone(timezone.utc)
    return [weasyprint.Attachment(string=f.data, name=f.path, description=f.path, created=when, modified=when,
                                  relationship=RELATIONSHIP)
            for f in embedded_set(files, summary_name=summary_name, summary_bytes=summary_bytes)]


def pypdf_reader(pdf_path: Path):
    """A pypdf reader of `pdf_path`, or a BenchError saying what is missing or wrong."""
    try:
        import pypdf
    except ImportError:
        raise BenchError("reading a PDF's evidence needs pypdf: pip install pypdf (or pip install bench[test])") \
            from None
    path = Path(pdf_path)
    if not path.is_file():
        raise BenchError(f"{path} is not a file")
    try:
        return pypdf.PdfReader(path, strict=False)
    except Exception as exc:  # pypdf raises many types for a damaged or foreign file
        raise BenchError(f"{path} is not a readable PDF ({type(exc).__name__}: {exc})") from None


def read_attachments(pdf_path: Path) -> dict[str, bytes]:
    """The document-level embedded files of a PDF, by name; a name embedded twice is refused (which one would
    be the evidence?)."""
    reader = pypdf_reader(pdf_path)
    out: dict[str, bytes] = {}
    try:
        for entry in reader.attachment_list:
            # UF, the file specification's Unicode name, which readers use (PDF 2.0, table 43); the name
            # tree's key is WeasyPrint's UTF-8 bytes, garbled for a non-ASCII name.
            name = str(entry.alternative_name or entry.name)
            if name in out:
                raise BenchError(f"{Path(pdf_path).name}: attachment {name} is embedded twice")
            out[name] = entry.content
    except BenchError:
        raise
    except Exception as exc:
        raise BenchError(f"{Path(pdf_path).name}: its embedded files cannot be read "
                         f"({type(exc).__name__}: {exc})") from None
    return out


def pdf_text(pdf_path: Path) -> str:
    """The PDF's visible text, pages separated by form feeds ('\\f'): poppler's pdftotext when installed (the
    extraction the layout tests use), else pypdf's."""
    path = Path(pdf_path)
    pdftotext = shutil.which("pdftotext")
    if pdftotext:
        done = subprocess.run([pdftotext, "-q", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                              check=False)
        if done.returncode == 0:
            return done.stdout.decode("utf-8", errors="replace")
    reader = pypdf_reader(path)
    try:
        return "\f".join(page.extract_text() or "" for page in reader.pages)
    except Exception as exc:
        raise BenchError(f"{path.name}: its text cannot be read ({type(exc).__name__}: {exc})") from None


def pdf_metadata(pdf_path: Path) -> dict[str, str]:
    """Title, author, subject, keywords and language of a PDF ('' where absent): what the archival check reads."""
    reader = pypdf_reader(pdf_path)
    info = reader.metadata or {}
    lang = reader.trailer["/Root"].get("/Lang")
    return {"title": str(info.get("/Title") or ""), "author": str(info.get("/Author") or ""),
            "subject": str(info.get("/Subject") or ""), "keywords": str(info.get("/Keywords") or ""),
            "language": str(lang or "")}
