"""The report's languages: message catalogues, numbers and writing direction.

Every sentence the pages print (the report and `bench compare`), from the templates and from Python
(bench.render's text, facts, transfer, report, compare and plots), is an English message looked up
in a gettext catalogue:
`report_templates/locale/<lang>/LC_MESSAGES/bench.po`. The catalogue is read at run time with
Babel (`read_po`) and compiled in memory into a `gettext.GNUTranslations`, so no binary `.mo`
file is committed or built; a new language is a new `.po` file (plus, for a new script, a font).
English is the source language: it needs no catalogue and no Babel.

Numbers are formatted by Python (`format(value, spec)`) and then written in the language's
digits and symbols from CLDR (Babel): Persian digits ۰-۹, the Persian decimal separator ٫ and
thousands separator ٬ by default, or Latin digits with `digits="latin"`.

Right-to-left languages: anything inserted into a sentence that is not a word of that language
(a model name, a signed number, an identifier) is one directional isolate. As text (a sentence
built in Python, the summary JSON, matplotlib, the terminal, HTML attributes) it is wrapped in
Unicode isolates (LRI/RLI ... PDI), which Pango/FriBidi, browsers and matplotlib all honour; in
the HTML the same text is markup: `<bdi dir="ltr" class="ltr">…</bdi>` (isolate_html, the `__html__`
of what `isolate`/`ltr` return, and `markup()`, the Jinja environment's finalize, for every printed value,
sentences built in Python included; an attribute or <title> takes attribute_text, the `plain_text` filter,
and keeps Unicode isolates), so that the
page says what is left to right and CSS can keep it on one line (style-rtl.css: `bdi.nb` never
breaks), or break it anywhere when it is one word of user text too long for a line (style.css: `.long`).
A translator marks a Latin phrase of a msgstr ("bench %(version)s") with LRI ... PDI around
it (Message: <bdi>s in a template where the message has placeholders, Unicode isolates otherwise). In English nothing is added, and negative numbers take the minus sign U+2212.

The active language is a context variable: `with activated(Language("fa")):` makes `_`,
`ngettext` and `pgettext` of this module (used by every module of bench.render) translate.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext as _gettext
import io
import re
import unicodedata
from decimal import Decimal
from pathlib import Path

import markupsafe

from bench.render.assets import TEMPLATES_DIR

from bench.errors import BenchError

LOCALE_DIR = TEMPLATES_DIR / "locale"
FONTS_DIR = TEMPLATES_DIR / "fonts"
DOMAIN = "bench"
SOURCE_LANGUAGE = "en"
DIGITS = ("native", "latin")

# Digits of the CLDR numbering systems a language may default to (Babel names the system, not its digits).
NUMBERING_DIGITS = {"latn": "0123456789", "arabext": "۰۱۲۳۴۵۶۷۸۹", "arab": "٠١٢٣٤٥٦٧٨٩",
                    "deva": "०१२३४५६७८९", "beng": "০১২৩৪৫৬৭৮৯"}
# The CSS counter style (page numbers, contents) that writes the same digits.
COUNTER_STYLES = {"latn": "decimal", "arabext": "persian", "arab": "arabic-indic", "deva": "devanagari",
                  "beng": "bengali"}

LRI, RLI, FSI, PDI = "\u2066", "\u2067", "\u2068", "\u2069"
LRM = "\u200e"
MINUS = "\u2212"
BIDI_CONTROLS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# An isolate this short (a name, a version, a signed number, an architecture chain) never breaks across
# lines; longer ones (commands, paths, hash lists) break where the text allows.
NOBREAK_CHARS = 40
_OPENERS = {LRI: "ltr", RLI: "rtl", FSI: None}


def languages() -> tuple[str, ...]:
    """English, then every language with a catalogue under LOCALE_DIR."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (SOURCE_LANGUAGE, *found)


def po_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.lru_cache(maxsize=None)
def load_translations(code: str) -> _gettext.NullTranslations:
    """The language's catalogue as a gettext translations object (English: none needed)."""
    if code == SOURCE_LANGUAGE:
        return _gettext.NullTranslations()
    try:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po
    except ImportError as exc:  # pragma: no cover - Babel is a dependency
        raise BenchError(f"--lang {code} needs Babel ({exc}); pip install Babel") from None
    with open(po_path(code), "rb") as fh:
        catalog = read_po(fh, locale=code, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)  # fuzzy entries are left out, as msgfmt does
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def strong_direction(text: str) -> str | None:
    """'rtl' when the text holds a right-to-left letter, 'ltr' when it holds only left-to-right ones."""
    kinds = {unicodedata.bidirectional(ch) for ch in text}
    if kinds & {"R", "AL"}:
        return "rtl"
    return "ltr" if "L" in kinds else None


def strip_bidi(text: str) -> str:
    """The text without directional marks and isolates (what a reader sees)."""
    return text.translate({ord(c): None for c in BIDI_CONTROLS})


def _bdi(direction: str | None, inner: str, plain: str) -> str:
    """The element for an isolate whose reader-visible text is `plain`: a <bdi>, kept on one line (class "nb")
    when short; one word longer than NOBREAK_CHARS (user text: a 120-character model title) is class "long",
    which style.css breaks between any two letters wherever it stands, so that it never widens its table or
    line past the page."""
    shown = strip_bidi(plain)
    short = len(shown) <= NOBREAK_CHARS
    long_word = not short and not re.search(r"\s", shown)
    attrs = f' dir="{direction}"' if direction else ""
    if direction == "ltr":
        attrs += ' class="ltr nb"' if short else ' class="ltr long"' if long_word else ' class="ltr"'
    elif long_word:
        attrs += ' class="long"'
    return f"<bdi{attrs}>{inner}</bdi>"


def controls_to_markup(html: str) -> str:
    """HTML (already escaped) whose Unicode isolates (LRI/RLI/FSI ... PDI, nested or not) become <bdi>
    elements; an unmatched control is dropped, so the markup stays balanced."""
    if not any(c in html for c in (LRI, RLI, FSI, PDI)):
        return html
    out: list[list[str]] = [[]]
    dirs: list[str | None] = []
    for piece in re.split(f"([{LRI}{RLI}{FSI}{PDI}])", html):
        if piece in _OPENERS:
            dirs.append(_OPENERS[piece])
            out.append([])
        elif piece == PDI:
            if dirs:
                inner = "".join(out.pop())
                out[-1].append(_bdi(dirs.pop(), inner, re.sub(r"<[^>]*>", "", inner)))
        else:
            out[-1].append(piece)
    while dirs:  # an isolate left open: its text stays, without an element
        dirs.pop()
        inner = "".join(out.pop())
        out[-1].append(inner)
    return "".join(out[0])


class AttributeText(markupsafe.Markup):
    """Escaped text for an attribute or <title>, isolates as Unicode controls (attribute_text)."""

    __slots__ = ()


_BDI_OPEN = re.compile(r'<bdi(?: dir="(ltr|rtl)")?[^>]*>')


def markup_to_text(html: str) -> str:
    """The reverse of controls_to_markup, for an attribute: <bdi> elements become Unicode isolates and any
    other tag is dropped; the text stays escaped."""
    html = _BDI_OPEN.sub(lambda m: {"ltr": LRI, "rtl": RLI}.get(m.group(1), FSI), html)
    return re.sub(r"<[^>]*>", "", html.replace("</bdi>", PDI))


def attribute_text(value) -> AttributeText:
    """A value as the text of an HTML attribute or of <title> (the `plain_text` filter): escaped, its
    isolates Unicode controls (an element there would be printed as text or break the page), and left
    as it is by `markup`, the Jinja environment's finalize."""
    if value is None:
        return AttributeText("")
    html = value.__html__() if hasattr(value, "__html__") else str(markupsafe.escape(value))
    return AttributeText(markup_to_text(str(html)))


def markup(value) -> "markupsafe.Markup":
    """A value as HTML: plain text escaped, markup kept, and every Unicode isolate in it as a <bdi>
    element: the Jinja environment's `finalize`, so that a sentence built in Python (a verdict, a fact,
    a list of names) prints its names and signed numbers as <bdi>s that style-rtl.css keeps on one line.
    An AttributeText (the plain_text filter) is left as it is."""
    import markupsafe

    if value is None:
        return markupsafe.Markup("")
    if isinstance(value, AttributeText):
        return value
    if hasattr(value, "__html__"):
        html = value.__html__()
    else:
        html = str(markupsafe.escape(value))
    return markupsafe.Markup(controls_to_markup(str(html)))


class Isolated(str):
    """Plain text holding Unicode isolates (a name, a signed number, a sentence built in Python): used
    as text it is the string itself; printed by a Jinja template it is escaped, its isolates <bdi>s."""

    __slots__ = ()

    def __html__(self):
        import markupsafe

        return markupsafe.Markup(controls_to_markup(str(markupsafe.escape(str(self)))))


class Message(str):
    """A catalogue's translation holding translator-marked isolates (LRI ... PDI): text for Python, trusted
    markup for a template (as Jinja's i18n extension treats it).

    In a template, a message with placeholders has its isolates as <bdi> elements: the values bench inserts
    are <bdi>s themselves, and a Unicode isolate left around an element would be split between two of the
    PDF engine's text boxes and isolate nothing ("bench 0.1.0" printed "0.1.0 bench"). A message without
    placeholders (a title, a model's name) keeps Unicode isolates, since it may be printed inside an
    attribute (<meta content>, alt=), where an element would break the page."""

    __slots__ = ()

    def __html__(self):
        import markupsafe

        return markupsafe.Markup(controls_to_markup(str(self)) if "%(" in self else str(self))


class Language:
    """A report language: its catalogue, its direction, and how it writes numbers."""

    def __init__(self, code: str = SOURCE_LANGUAGE, digits: str = "native"):
        if code not in languages():
            raise BenchError(f"unknown report language {code!r}; choose one of {', '.join(languages())}")
        if digits not in DIGITS:
            raise BenchError(f"--digits must be one of {', '.join(DIGITS)}, got {digits!r}")
        self.code, self.digits = code, digits
        self.translations = load_translations(code)
        if code == SOURCE_LANGUAGE:
            self.direction, system = "ltr", "latn"
            symbols = {".": ".", ",": ",", "-": "-", "+": "+"}
        else:
            from babel import Locale, numbers

            locale = Locale.parse(code)
            self.direction = "rtl" if locale.text_direction == "rtl" else "ltr"
            system = "latn" if digits == "latin" else locale.default_numbering_system
            if system not in NUMBERING_DIGITS:
                system = "latn"

            def symbol(fn):
                # CLDR prefixes Persian signs with a left-to-right mark; isolates (below) do that job.
                return strip_bidi(fn(code, numbering_system=system))

            symbols = {".": symbol(numbers.get_decimal_symbol), ",": symbol(numbers.get_group_symbol),
                       "-": symbol(numbers.get_minus_sign_symbol), "+": symbol(numbers.get_plus_sign_symbol)}
        self.numbering = system
        self.counter_style = COUNTER_STYLES[system]
        self.rtl = self.direction == "rtl"
        table = {ord(a): b for a, b in symbols.items()}
        table.update({ord(a): b for a, b in zip("0123456789", NUMBERING_DIGITS[system])})
        self._table = table
        self._signs = (symbols["-"], symbols["+"])

    def __repr__(self):
        return f"Language({self.code!r}, digits={self.digits!r})"

    @property
    def english(self) -> bool:
        return self.code == SOURCE_LANGUAGE

    # ------------------------------------------------------------------ messages

    def _message(self, text: str) -> str:
        if not self.english:
            # A translator's own native digits ("±۱۰", "۹۵٪") follow the report's numbering, as every formatted
            # number does: `--digits latin` must not leave native digits in a sentence. Latin digits in a
            # translation are names (CIFAR-10, VGG16) and stay.
            text = text.translate(self._own_digits)
        return Message(text) if self.rtl and (LRI in text or RLI in text or FSI in text) else text

    @property
    def _own_digits(self) -> dict:
        wanted = NUMBERING_DIGITS[self.numbering]
        return {ord(d): w for system, digits in NUMBERING_DIGITS.items() if system != "latn" and digits != wanted
                for d, w in zip(digits, wanted)}

    def gettext(self, message: str) -> str:
        return self._message(self.translations.gettext(message))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._message(self.translations.ngettext(singular, plural, n))

    def pgettext(self, context: str, message: str) -> str:
        return self._message(self.translations.pgettext(context, message))

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        return self._message(self.translations.npgettext(context, singular, plural, n))

    # ------------------------------------------------------------------ numbers

    def number(self, text: str) -> str:
        """A number Python formatted (digits, '.', ',', sign) in this language's digits and symbols;
        a negative number takes the minus sign U+2212 (CLDR's, in English too), not the hyphen."""
        if self.english:
            return MINUS + text[1:] if text.startswith("-") else text
        out = text.translate(self._table)
        if self.rtl and out.startswith(self._signs):
            # The sign stays on the number's left, and the number stays whole (an LTR isolate).
            out = Isolated(LRI + out + PDI)
        return out

    def format(self, value, spec: str = "") -> str:
        return self.number(format(value, spec))

    def integer(self, value) -> str:
        return self.number(str(int(value)))

    def plain(self, value) -> str:
        """A protocol value as written by hand (0.1, 0.0005); in other languages never in e-notation."""
        if isinstance(value, float):
            text = f"{value:g}"
            if "e" in text and not self.english:
                text = format(Decimal(repr(value)), "f")
            return self.number(text)
        if isinstance(value, int) and not isinstance(value, bool):
            return self.integer(value)
        return str(value)

    def digits_only(self, text: str) -> str:
        """Digits of a free text (a date, a size such as 32×32) in this language's digits; nothing else changes."""
        if self.english:
            return text
        return text.translate({ord(a): b for a, b in zip("0123456789", NUMBERING_DIGITS[self.numbering])})

    # ------------------------------------------------------------------ direction

    def isolate(self, text) -> str:
        """`text` as one directional unit inside a sentence: a name, an identifier, a signed number.
        Plain text with Unicode isolates (for Python sentences, matplotlib, JSON, attributes: see
        isolate_text); printed by a template, a <bdi> element (Isolated.__html__)."""
        text = "" if text is None else str(text)
        if not self.rtl or not text:
            return text
        return Isolated((RLI if strong_direction(text) == "rtl" else LRI) + text + PDI)

    def ltr(self, text) -> str:
        """Code, paths, hashes, commands and versions: always left to right, inside an isolate."""
        text = "" if text is None else str(text)
        return Isolated(LRI + text + PDI) if self.rtl and text else text

    def isolate_text(self, text) -> str:
        """isolate() as a plain str (HTML attributes, <title>, matplotlib): no markup ever."""
        return str(self.isolate(text))

    def ltr_text(self, text) -> str:
        return str(self.ltr(text))

    def isolate_html(self, text):
        """isolate() as markup: `<bdi dir="ltr" class="ltr nb">3072-256-128-10</bdi>`, content escaped."""
        return markup(self.isolate(text))

    def ltr_html(self, text):
        return markup(self.ltr(text))

    def join(self, items, last: str | None = None) -> str:
        """'a, b and c' in this language (`last`: the translated conjunction, default 'and')."""
        items = [str(i) for i in items]
        if len(items) <= 1:
            return "".join(items)
        sep = self.pgettext("list separator", ", ")
        last = self.pgettext("list", "and") if last is None else last
        return sep.join(items[:-1]) + f" {last} " + items[-1]


@functools.lru_cache(maxsize=None)
def _default() -> Language:
    return Language()


_ACTIVE: contextvars.ContextVar[Language | None] = contextvars.ContextVar("bench_language", default=None)


def current() -> Language:
    """The language the report is being written in (English outside `activated`)."""
    return _ACTIVE.get() or _default()


@contextlib.contextmanager
def activated(language: Language | str | None):
    """Translate with `language` within the block."""
    if language is None or isinstance(language, str):
        language = Language(language or SOURCE_LANGUAGE)
    token = _ACTIVE.set(language)
    try:
        yield language
    finally:
        _ACTIVE.reset(token)


# The functions the message extractor (babel.messages.extract, tests/test_i18n.py) looks for.

def _(message: str) -> str:
    return current().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return current().ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return current().pgettext(context, message)


def N_(message: str) -> str:
    """Marks a message for the catalogue without translating it (translated where it is shown)."""
    return message


def font_files() -> list[Path]:
    """The fonts shipped for scripts that DejaVu lacks (Vazirmatn, OFL: report_templates/fonts/OFL.txt)."""
    return sorted(FONTS_DIR.glob("*.ttf"))


# ----------------------------------------------------------------------------- the catalogue's sources
# The pages' messages: the Python modules that write their sentences, and their templates.

# The modules that write the pages' sentences, in the catalogue's order; every other module of bench.render follows
# (sorted), so that a new one's messages are in the catalogue, and its tests, at once.
PYTHON_SOURCES = ("render/i18n.py", "render/text.py", "render/facts.py", "render/transfer.py", "render/report.py",
                  "render/compare.py", "render/plots.py", "render/verdicts.py", "render/outputs.py")
TEMPLATE_GLOB = ("report.html.j2", "_*.html.j2", "compare.html.j2")
# How the templates are read for extraction: as bench.render.outputs' Jinja environment reads them.
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "newstyle_gettext": "true",
                 "trim_blocks": "true", "lstrip_blocks": "true", "silent": "false"}


def source_files() -> list[Path]:
    package = Path(__file__).resolve().parent.parent
    templates = sorted({p for pattern in TEMPLATE_GLOB for p in TEMPLATES_DIR.glob(pattern)})
    first = [package / name for name in PYTHON_SOURCES]
    return first + sorted(set((package / "render").glob("*.py")) - set(first)) + templates


def extract_messages():
    """Every message of the report's sources, as a Babel Catalog (what a .po file must translate)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import DEFAULT_KEYWORDS, extract

    catalog = Catalog(project="bench", domain=DOMAIN)
    root = Path(__file__).resolve().parents[2]
    for path in source_files():
        method, options = ("python", {}) if path.suffix == ".py" else ("jinja2", JINJA_OPTIONS)
        with open(path, "rb") as fh:
            for lineno, message, comments, context in extract(method, fh, DEFAULT_KEYWORDS, options=options,
                                                              strip_comment_tags=True):
                catalog.add(message, None, [(str(path.relative_to(root)), lineno)], auto_comments=comments,
                            context=context)
    return catalog


def update_catalogue(code: str) -> Path:
    """Create or update `locale/<code>/LC_MESSAGES/bench.po` from the sources (pybabel update's job):
    new messages are added untranslated, vanished ones are kept as obsolete (#~) entries."""
    from babel.messages.pofile import read_po, write_po

    template = extract_messages()
    path = po_path(code)
    if path.exists():
        with open(path, "rb") as fh:
            catalog = read_po(fh, locale=code, domain=DOMAIN)
        catalog.update(template, update_header_comment=False, no_fuzzy_matching=True)
    else:
        from babel.messages.catalog import Catalog

        catalog = Catalog(locale=code, domain=DOMAIN, project="bench")
        catalog.update(template, no_fuzzy_matching=True)
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        write_po(fh, catalog, width=120, sort_output=False, include_previous=False)
    return path


if __name__ == "__main__":  # python -m bench.render.i18n fa [de ...]: create or update those catalogues
    import sys

    for lang in sys.argv[1:] or [p for p in languages() if p != SOURCE_LANGUAGE]:
        print(update_catalogue(lang))
