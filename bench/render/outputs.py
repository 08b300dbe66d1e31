"""Files out: the one Jinja environment, the one PDF engine (WeasyPrint) and the one rule for --out.

The rule, for the report and `bench compare` alike: `--out X.pdf` or `--out X.html` writes X.html, X.pdf
and X.summary.json beside each other; asked for X.html on a machine without WeasyPrint/Pango, the PDF is
left out with a warning instead of failing. Everything is rendered in memory first, so a failure leaves
no partial file, and each write is atomic.

A report's PDF is archival (PDF/A-3b, tagged) and embeds its evidence (issue 23, bench.evidence): the run
directory's files its numbers come from, X.summary.json and their index, each under its run-directory path;
the appendix lists the same files (path, size, SHA-256) in the PDF and the HTML alike. X.summary.json is
serialised once: the bytes written beside the report are the bytes embedded in it.
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import markupsafe

from bench.errors import BenchError
from bench.evidence import ARCHIVAL_OPTIONS, EvidenceFile, attachment_args, embedded_set, evidence_files
from bench.render import i18n, text
from bench.render.i18n import _
from bench.render.assets import TEMPLATES_DIR
from bench.rundir import layout

OUT_EXTENSIONS = (".pdf", ".html")


def check_out(out: Path, *, pending_dir: Path | None = None) -> Path:
    """Fail early on an --out that cannot be written: bad extension, missing or read-only folder.

    `pending_dir` is a folder that the command itself creates before it writes the report
    (`bench all`'s run directory); a report inside it passes.
    """
    out = Path(out)
    if out.suffix.lower() not in OUT_EXTENSIONS:
        raise BenchError(f"--out must end in {' or '.join(OUT_EXTENSIONS)}, got {out.name!r}")
    parent = out.parent if str(out.parent) else Path(".")
    if pending_dir is not None and parent.resolve() == Path(pending_dir).resolve() and not parent.exists():
        return out
    if not parent.is_dir():
        blocker = next((p for p in [parent, *parent.parents] if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise BenchError(f"cannot write {out}: {blocker} is a file, not a folder")
        raise BenchError(f"cannot write {out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise BenchError(f"cannot write {out}: folder {parent} is not writable")
    # Three files are written; each must be writable before the first is written.
    for path in (out, out.with_suffix(".html"), out.with_suffix(".pdf"), summary_path(out)):
        if path.is_dir():
            raise BenchError(f"cannot write {path}: it is a directory")
    return out


def summary_path(out: Path) -> Path:
    """report.pdf -> report.summary.json: named after the page, so that two pages in one folder keep theirs."""
    return Path(out).with_suffix(".summary.json")


def environment(language: i18n.Language | None = None):
    """The Jinja2 environment of every page: autoescape, StrictUndefined, the i18n extension with the
    language's catalogue ({% trans %}, _(), ngettext(), pgettext()) and number filters in its digits.

    Every printed value passes through i18n.markup (finalize): the Unicode isolates of a sentence built in
    Python become <bdi> elements, which the PDF engine keeps whole and style-rtl.css keeps on one line.
    An attribute or <title> takes `| plain_text` instead (isolates stay Unicode controls there)."""
    import jinja2

    lang = language or i18n.current()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             extensions=["jinja2.ext.i18n"], finalize=i18n.markup)
    # One message per sentence whatever the template's line breaks (also how tests/test_i18n.py extracts).
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(lang, newstyle=True)

    def with_lang(fn: Callable) -> Callable:
        def call(*args, **kwargs):
            with i18n.activated(lang):
                return fn(*args, **kwargs)
        return call

    env.filters["pct"] = lambda v, d=1: "–" if v is None else lang.format(100 * v, f".{d}f")
    env.filters["percent"] = with_lang(lambda v, d=1: "–" if v is None else text.percent(lang.format(100 * v,
                                                                                                    f".{d}f")))
    env.filters["num"] = lambda v, d=3: "–" if v is None else lang.format(v, f".{d}f")
    env.filters["signed"] = lambda v, d=1: lang.format(v, f"+.{d}f")
    env.filters["thousands"] = lambda v: lang.format(int(v), ",")
    env.filters["n"] = lambda v: lang.integer(v)
    env.filters["pvalue"] = with_lang(text.p_value)
    env.filters["p_eq"] = with_lang(lambda p: text.p_value(p, "relation"))
    env.filters["p_text"] = with_lang(lambda p, eq="": text.p_value(p, "p=" if eq else "p"))
    env.filters["duration"] = with_lang(text.duration)
    # A name is one unit: an isolate in right-to-left text, and unbroken up to i18n.NOBREAK_CHARS (longer user
    # text wraps, style.css).
    env.filters["iso"] = lambda v: text.unbroken(lang.isolate(v))
    env.filters["ltr"] = lambda v: lang.ltr(v)
    env.filters["plain_text"] = i18n.attribute_text
    # Joins keeping markup (a translated message) and escaping plain text, like {{ }} does.
    env.filters["jlist"] = lambda items: markupsafe.Markup(lang.pgettext("list separator", ", ")).join(items)
    env.filters["jlist_and"] = lambda items: markupsafe.Markup(lang.join(markupsafe.escape(i) for i in items))
    env.filters["capital"] = text.capitalised
    env.filters["lookup"] = lambda items, mapping: [mapping[i] for i in items]
    env.filters["split_name"] = with_lang(text.split_name)
    env.filters["status_name"] = with_lang(text.status_name)
    env.filters["points"] = with_lang(text.points)
    env.filters["ci_points"] = with_lang(text.ci_points)
    env.filters["show"] = with_lang(text.recorded_value)
    env.filters["is_long"] = lambda v: len(text.recorded_value(v)) > 24
    env.globals["interval"] = with_lang(text.interval_text)
    return env


def font_faces() -> str:
    """@font-face rules for the shipped fonts (report_templates/fonts), embedded as data: URIs so that
    the HTML stays self-contained; WeasyPrint embeds the glyphs it uses in the PDF."""
    rules = []
    for path in i18n.font_files():
        weight = "bold" if "Bold" in path.stem else "normal"
        family = path.stem.split("-")[0]
        data = base64.b64encode(path.read_bytes()).decode()
        rules.append(f'@font-face {{ font-family: "{family}"; font-weight: {weight}; font-style: normal; '
                     f'src: url(data:font/ttf;base64,{data}) format("truetype"); }}')
    return "\n".join(rules)


def stylesheet(lang: i18n.Language, names: tuple[str, ...] = ("style.css",)) -> markupsafe.Markup:
    """The page's CSS: `names` in order, then, for a right-to-left language, its fonts and style-rtl.css."""
    css = "\n".join((TEMPLATES_DIR / name).read_text() for name in names)
    if lang.rtl:
        css += "\n" + font_faces() + "\n" + (TEMPLATES_DIR / "style-rtl.css").read_text().replace(
            "COUNTER_STYLE", lang.counter_style)
    return markupsafe.Markup(css)


class Numbering:
    """Figure and table numbers in document order, and references to them from anywhere on the page.

    In a template: `{{ label("figure", key) }}` opens a caption ("Figure 3." in the page's language, the anchor
    "figure-3") and gives `key` the next number of its kind; `{{ ref("figure", key) }}` ("Figure 3", a link to that
    anchor) names it in a sentence, before or after the caption. A page is rendered twice (render_page): the first pass numbers the captions in the
    order they appear, the second prints every reference with the final number. A key labelled twice, or a
    reference to a caption the page never shows, is a bug of bench and raises.
    """

    KINDS = ("figure", "table")

    def __init__(self, language: i18n.Language, known: dict | None = None):
        self.language = language
        self.known = known  # None on the first pass; the first pass's numbers on the second
        self.numbers: dict[tuple[str, str], int] = {}
        self.used = False

    def _kind(self, kind: str) -> str:
        if kind not in self.KINDS:
            raise ValueError(f"unknown caption kind {kind!r}; legal values: {', '.join(self.KINDS)}")
        self.used = True
        return kind

    def label(self, kind: str, key: str) -> str:
        if (self._kind(kind), key) in self.numbers:
            raise ValueError(f"{kind} {key!r} is labelled twice on one page")
        self.numbers[(kind, key)] = sum(1 for k, _ in self.numbers if k == kind) + 1
        number = self.language.integer(self.numbers[(kind, key)])
        with i18n.activated(self.language):
            text = (_("Figure %(number)s.") if kind == "figure" else _("Table %(number)s.")) % {"number": number}
        # The anchor a reference links to ("table-3"): by number, so that no key (a model's name) reaches an id.
        return markupsafe.Markup('<span class="label" id="%s-%d">%s</span>') % (kind, self.numbers[(kind, key)], text)

    def ref(self, kind: str, key: str) -> str:
        self._kind(kind)
        if self.known is None:
            return "?"  # first pass: the caption may come later
        if (kind, key) not in self.known:
            raise KeyError(f"the page refers to {kind} {key!r} but shows no such caption")
        number = self.language.integer(self.known[(kind, key)])
        with i18n.activated(self.language):
            text = (_("Figure %(number)s") if kind == "figure" else _("Table %(number)s")) % {"number": number}
        # A link in the HTML and in the PDF (WeasyPrint writes internal links), styled as the text around it.
        return markupsafe.Markup('<a class="ref" href="#%s-%d">%s</a>') % (kind, self.known[(kind, key)], text)


def render_page(template: str, language: i18n.Language, /, **context) -> str:
    """A template rendered in `language`, with its figures and tables numbered (Numbering)."""
    with i18n.activated(language):
        page = environment(language).get_template(template)
        first = Numbering(language)
        html = page.render(**context, label=first.label, ref=first.ref)
        if not first.used:
            return html
        second = Numbering(language, known=first.numbers)
        html = page.render(**context, label=second.label, ref=second.ref)
        if second.numbers != first.numbers:
            raise RuntimeError("figure and table numbers changed between the two passes of one page")
        return html


def layout_pdf(html: str):
    """A page laid out (a weasyprint.Document): what render_pdf writes, and what tests/test_layout.py inspects."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: WeasyPrint is there but Pango is not
        raise BenchError(f"PDF rendering needs WeasyPrint and Pango ({exc}); install them "
                         "(see README, Install) or ask for --out report.html") from None

    # WeasyPrint logs every unsupported CSS property at WARNING; the pages' CSS is known.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    return weasyprint.HTML(string=html, base_url=str(TEMPLATES_DIR)).render()


def render_pdf(html: str, *, attachments: list | None = None, archival: bool = False) -> bytes:
    """The page as PDF bytes; `attachments`: WeasyPrint Attachments (bench.evidence.attachment_args);
    `archival`: PDF/A-3b with a structure tree (bench.evidence.ARCHIVAL_OPTIONS), as every report is."""
    options = ARCHIVAL_OPTIONS if archival else {}
    document = layout_pdf(html)
    with warnings.catch_warnings():
        # WeasyPrint's PDF/A writer leaves its sRGB profile's file open (a ResourceWarning the CLI would print
        # as a warning of ours); nothing for the user to act on.
        warnings.simplefilter("ignore", ResourceWarning)
        return document.write_pdf(attachments=attachments or None, **options)


def summary_bytes(summary: dict) -> bytes:
    """X.summary.json's bytes, serialised once by the run directory's own JSON writer (layout.write_json, the
    writer every summary has always gone through), so that the file on disk and the copy embedded in the PDF
    are the same bytes."""
    with tempfile.TemporaryDirectory(prefix="bench-summary-") as tmp:
        path = Path(tmp) / "summary.json"
        layout.write_json(path, summary)
        return path.read_bytes()


@dataclass(frozen=True)
class ReportEvidence:
    """What a report embeds: computed before the page is rendered, because the appendix lists it."""

    summary: bytes                 # X.summary.json exactly as written to disk and embedded
    summary_name: str              # "X.summary.json", the summary's file and attachment name
    pdf_name: str                  # "X.pdf", where the HTML's appendix says the files are attached
    run_files: list[EvidenceFile] = field(default_factory=list)  # the run's evidence; empty: --no-evidence
    files: list[EvidenceFile] = field(default_factory=list)      # run_files + summary + index: the appendix rows

    def attachments(self) -> list:
        """WeasyPrint Attachments of `files` (none for --no-evidence)."""
        if not self.run_files:
            return []
        try:
            return attachment_args(self.run_files, summary_name=self.summary_name, summary_bytes=self.summary)
        except (ImportError, OSError) as exc:  # attachments are WeasyPrint objects: no WeasyPrint, no PDF
            raise BenchError(f"PDF rendering needs WeasyPrint and Pango ({exc}); install them "
                             "(see README, Install) or ask for --out report.html") from None


def report_evidence(run_dir: Path, out: Path, summary: dict, *, embed: bool = True) -> ReportEvidence:
    """The evidence of the report of `run_dir` written to `out`; `embed=False` (--no-evidence): the summary
    alone, nothing attached and no table."""
    data = summary_bytes(summary)
    name = summary_path(out).name
    pdf_name = Path(out).with_suffix(".pdf").name
    if not embed:
        return ReportEvidence(data, name, pdf_name)
    run_files = evidence_files(run_dir)
    return ReportEvidence(data, name, pdf_name, run_files,
                          embedded_set(run_files, summary_name=name, summary_bytes=data))


def write_outputs(out: Path, html: str, summary: dict, *, log=None,
                  evidence: ReportEvidence | None = None) -> list[Path]:
    """The --out rule: <out>.pdf (when WeasyPrint can make it), <out>.html and <out>.summary.json.

    `evidence` (a report's): the PDF is archival and embeds it, and <out>.summary.json is its summary bytes;
    without it (a comparison), the PDF as before and `summary` serialised."""
    out = Path(out)
    try:
        if evidence is None:
            pdf = render_pdf(html)
        else:
            pdf = render_pdf(html, attachments=evidence.attachments(), archival=True)
    except BenchError as exc:
        if out.suffix.lower() != ".html":
            raise
        # Asked for HTML: a machine without Pango (a bare GPU box) still gets its page.
        pdf = None
        if log:
            log(f"warning: no PDF written: {exc}")
    html_path, pdf_path = out.with_suffix(".html"), out.with_suffix(".pdf")
    layout.write_bytes(html_path, html.encode())
    written = [html_path, summary_path(out)]
    if pdf is not None:
        layout.write_bytes(pdf_path, pdf)
        written.insert(0, pdf_path)
    layout.write_bytes(summary_path(out), summary_bytes(summary) if evidence is None else evidence.summary)
    return written
