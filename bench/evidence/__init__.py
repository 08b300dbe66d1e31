"""The report as evidence (issue 23): the run-directory files its numbers come from, embedded in the PDF, and
`bench verify REPORT.pdf`, which checks the report against them with nothing but the file.

    collect  which files are evidence, their index (evidence.json), extraction back into a run directory
    pdf      WeasyPrint's attachments and archival options; reading attachments and text back (pypdf, pdftotext)
    numbers  numbers compared between summaries, and read from a page's text
    verify   the four checks of `bench verify REPORT.pdf`

Floor: this package imports bench.errors and bench.rundir (floor 2) only; the report's analysis and formatting
are passed in (verify_pdf's `recompute` and `formatted_numbers`), so render (7) and cli (8) import it, never the
other way. pypdf and WeasyPrint are imported only by the functions that read or write a PDF.
"""

from bench.evidence.collect import INDEX, EvidenceFile, evidence_files, extracted, summary_file
from bench.evidence.numbers import number_tokens
from bench.evidence.pdf import ARCHIVAL_OPTIONS, attachment_args, embedded_set, pdf_metadata, pdf_text, \
    read_attachments
from bench.evidence.verify import evidence_run, open_evidence, verify_pdf

__all__ = ["ARCHIVAL_OPTIONS", "INDEX", "EvidenceFile", "attachment_args", "embedded_set", "evidence_files",
           "evidence_run", "extracted", "number_tokens", "open_evidence", "pdf_metadata", "pdf_text",
           "read_attachments", "summary_file", "verify_pdf"]
