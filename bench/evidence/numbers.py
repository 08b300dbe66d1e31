"""Numbers two ways: as values of a summary (compared leaf by leaf), and as tokens of a page's text.

The rule for the PDF's text (what `bench verify X.pdf` checks, documented in the README by the wiring):
a token is CHECKED when it is a number with a decimal point ("0.259", "1,132.5") or a number followed by a
percent sign ("25.90 %", "26 %"), in Latin or Persian/Arabic-Indic digits (either language's separators).
Every checked token must be one the report's formatter yields from the summary. Plain integers are not
checked: page numbers, years, dates, seeds, epochs, image counts and class counts are integers that a reader
checks against the data, not numbers computed from predictions, and a rule for them would be a list of
exceptions. Version strings (two or more points: "2.14.1") are not numbers. Signs are ignored (extractors
render a minus as '-', U+2212 or a separate glyph), so a token is the number's magnitude as printed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Iterator

# Persian and Arabic-Indic digits and separators -> ASCII, so that one rule reads both languages.
_NATIVE = {**{0x06F0 + i: str(i) for i in range(10)}, **{0x0660 + i: str(i) for i in range(10)},
           0x066B: ".", 0x066C: ",", 0x066A: "%", 0x2212: "-", 0x00A0: " ", 0x202F: " ", 0x2009: " "}
# A maximal run of digits with inner separators.
_RUN = re.compile(r"\d(?:[\d.,]*\d)?")
# A percent sign next to a number, before or after it across at most one space or line break (extractors
# break "28.4 %" across lines, and right-to-left text puts the sign on either side).
_PERCENT_AFTER = re.compile(r"\s?%")
_PERCENT_BEFORE = re.compile(r"%\s?$")
# Relative tolerance of a recomputed float: the same code computes both, so only the last bits of a sum taken
# on another machine may differ.
REL_TOL = 1e-12


def normalise(text: str) -> str:
    """Native digits and separators as ASCII; other characters unchanged."""
    return text.translate(_NATIVE)


@dataclass(frozen=True)
class Token:
    """One checked number in a text."""

    text: str  # canonical form: ASCII digits, '.' decimal point, ',' grouping as printed; no sign, no '%'
    page: int  # 1-based page (pages are separated by form feeds), 1 for a text without pages


def number_tokens(text: str) -> list[Token]:
    """The checked numbers of `text` (see the module docstring), in reading order."""
    norm = normalise(text)
    out = []
    for match in _RUN.finditer(norm):
        body = match.group(0)
        # Glued to letters or other digits' separators: part of a word, a hash or an identifier, not a number.
        before = norm[match.start() - 1] if match.start() else " "
        after = norm[match.end()] if match.end() < len(norm) else " "
        if before.isalnum() or before == "_" or (after.isalnum() and after != "e") or after == "_":
            continue
        body = body.rstrip(".,")
        if body.count(".") > 1:  # a version or an address
            continue
        percent = _PERCENT_AFTER.match(norm, match.end()) or _PERCENT_BEFORE.search(norm[max(0, match.start() - 2):
                                                                                          match.start()])
        if "." not in body and not percent:
            continue  # a plain integer: not checked (module docstring)
        out.append(Token(body, norm.count("\f", 0, match.start()) + 1))
    return out


def allowed_tokens(strings) -> set[str]:
    """The canonical tokens of every string a formatter returns (so that both sides are read alike)."""
    return {t.text for s in strings for t in number_tokens(str(s))}


class _Visible(HTMLParser):
    """Collects the text a reader sees: not the style sheet, scripts or the <title> (metadata, not a page)."""

    HIDDEN = {"style", "script", "title", "head"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def html_text(page: str) -> str:
    """The visible text of an HTML page, for a formatter that answers "every number the report prints" with
    the page the report's own code renders from the same evidence (what the wiring's formatted_numbers does)."""
    parser = _Visible()
    parser.feed(page)
    parser.close()
    return " ".join(parser.parts)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same_number(a: Any, b: Any) -> bool:
    """Integers exactly; floats within REL_TOL (NaN equals NaN: an undefined statistic stays undefined)."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0)


def key_path(parts: tuple) -> str:
    """('models', 'mlp', 'per_seed', 0, 'accuracy') -> 'models.mlp.per_seed[0].accuracy'."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


@dataclass(frozen=True)
class Difference:
    """The first place where two summaries disagree."""

    parts: tuple     # key path, as keys and list indices
    embedded: Any    # the value the PDF's summary holds there (or "(absent)")
    recomputed: Any  # the value recomputed from the embedded files (or "(absent)")


def leaves(tree: Any, parts: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(key path, value) of every leaf, dict keys in sorted order."""
    if isinstance(tree, dict):
        for key in sorted(tree, key=str):
            yield from leaves(tree[key], parts + (key,))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from leaves(value, parts + (i,))
    else:
        yield parts, tree


def differences(embedded: Any, recomputed: Any, parts: tuple = (), *, words: bool = True) -> Iterator[Difference]:
    """Every place where two summaries disagree, in key order: numbers by same_number, booleans and null
    exactly, strings exactly when `words` (a sentence that quotes a number is checked too), else only as
    strings (for a caller that cannot recompute the words in the report's language). A missing key or list
    item, or a value of another kind, is one difference (what lies below it is not compared)."""
    if isinstance(embedded, dict) and isinstance(recomputed, dict):
        for key in sorted(set(embedded) | set(recomputed), key=str):
            if key not in embedded or key not in recomputed:
                yield Difference(parts + (key,), embedded.get(key, "(absent)"), recomputed.get(key, "(absent)"))
            else:
                yield from differences(embedded[key], recomputed[key], parts + (key,), words=words)
    elif isinstance(embedded, list) and isinstance(recomputed, list):
        for i in range(max(len(embedded), len(recomputed))):
            if i >= len(embedded) or i >= len(recomputed):
                yield Difference(parts + (i,), embedded[i] if i < len(embedded) else "(absent)",
                                 recomputed[i] if i < len(recomputed) else "(absent)")
            else:
                yield from differences(embedded[i], recomputed[i], parts + (i,), words=words)
    elif is_number(embedded) and is_number(recomputed):
        if not same_number(embedded, recomputed):
            yield Difference(parts, embedded, recomputed)
    elif not (type(embedded) is type(recomputed)
              and (embedded == recomputed or (not words and isinstance(embedded, str)))):
        yield Difference(parts, embedded, recomputed)


def compare(embedded: Any, recomputed: Any, *, words: bool = True) -> tuple[int, list[Difference]]:
    """(numbers of the embedded summary, every difference): the summary agrees when the list is empty."""
    return sum(1 for _, v in leaves(embedded) if is_number(v)), list(differences(embedded, recomputed, words=words))
