"""Files out: the one Jinja environment, the one PDF engine (WeasyPrint) and the one rule for --out.

The rule, for the report and `bench compare` alike: `--out X.pdf` or `--out X.html` writes X.html, X.pdf
and X.summary.json beside each other; asked for X.html on a machine without WeasyPrint/Pango, the PDF is
left out with a warning instead of failing. Everything is rendered in memory first, so a failure leaves
no partial file, and each write is atomic.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import Callable

import markupsafe

from bench.errors import BenchError
from bench.render import i18n, text
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
    language's catalogue ({% trans %}, _(), ngettext(), pgettext()) and number filters in its digits."""
    import jinja2

    lang = language or i18n.current()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             extensions=["jinja2.ext.i18n"])
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
    env.filters["iso"] = lambda v: lang.isolate(v)
    env.filters["ltr"] = lambda v: lang.ltr(v)
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


def render_page(template: str, language: i18n.Language, /, **context) -> str:
    """A template rendered in `language`."""
    with i18n.activated(language):
        return environment(language).get_template(template).render(**context)


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


def render_pdf(html: str) -> bytes:
    return layout_pdf(html).write_pdf()


def write_outputs(out: Path, html: str, summary: dict, *, log=None) -> list[Path]:
    """The --out rule: <out>.pdf (when WeasyPrint can make it), <out>.html and <out>.summary.json."""
    out = Path(out)
    try:
        pdf = render_pdf(html)
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
    layout.write_json(summary_path(out), summary)
    return written
