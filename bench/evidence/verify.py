"""`bench verify REPORT.pdf`: check a report against the evidence it embeds, with nothing but the file.

Four checks, in this order, one finding line each, then a last line that counts the numbers:

1. digests: every attachment is a file bench embeds and matches evidence.json (size, SHA-256); none missing,
   none extra, exactly one summary.
2. numbers: the summary recomputed from the embedded run directory (by the report's own code, passed in as
   `recompute`) equals the embedded summary, leaf by leaf (numbers within numbers.REL_TOL, the rest exactly).
3. text: every decimal number and percentage printed in the PDF is one the report's formatter yields from the
   summary (`formatted_numbers`; rule in bench.evidence.numbers), and the appendix lists every attachment
   with its SHA-256.
4. protocol: configs, metrics and predictions belong where they lie and to this study: model and seed match the
   folder, the seed/protocol/directory fingerprints match their records, the test labels match dataset.json,
   every run manifest.json records as complete is embedded.

A disagreement is a BenchError of one line naming the PDF, the check, and the model, seed and file concerned.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from bench.errors import BenchError
from bench.evidence import collect
from bench.evidence.collect import (CONFIG, DATASET, INDEX, MANIFEST, METRICS, PREDICTIONS, check_name, owner,
                                    parse_index, summary_names)
from bench.evidence.numbers import allowed_tokens, compare, key_path, number_tokens
from bench.rundir.checks import fingerprint, protocol_of
from bench.rundir.layout import parse_run_key, run_key, seed_folder

# The report's analysis, run on an extracted run directory: the summary dict it would write.
Recompute = Callable[[Path], dict]
# The report's number formatting: every string it prints for a summary (and the run it came from).
Formatter = Callable[[dict, Path], Iterable[str]]
# Leaf keys of a summary and the run-directory file their numbers come from (the rest: predictions.npz).
SOURCE_OF = {"loss": METRICS, "train_seconds": METRICS, "eval_seconds": METRICS, "epochs_run": METRICS,
             "history": "history.csv", "curves": "history.csv", "parameters": CONFIG, "layers": CONFIG,
             "reference": MANIFEST, "reference_diff": MANIFEST}
# How many hex digits of a SHA-256 the appendix must show (it may print the digest whole or cut to this).
DIGEST_SHOWN = 16


@dataclass(frozen=True)
class Evidence:
    """A PDF's evidence after check 1: every attachment known and matching the index."""

    pdf: Path                # the report
    files: dict[str, bytes]  # attachments by name (run-directory paths, the summary, the index)
    summary_name: str        # e.g. "report.summary.json"
    summary: dict            # the embedded summary, parsed
    runs: list[tuple[str, int]]  # (model, seed) of every embedded seed folder, sorted

    def refuse(self, what: str) -> BenchError:
        return BenchError(f"{self.pdf.name}: {what}")

    def json(self, name: str) -> dict:
        return parse_json(self.pdf, name, self.files[name])


def parse_json(pdf: Path, name: str, data: bytes) -> dict:
    """An embedded JSON object, or a BenchError naming the PDF and the attachment."""
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BenchError(f"{pdf.name}: {owner(name)} is not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise BenchError(f"{pdf.name}: {owner(name)} is not a JSON object")
    return record


def open_evidence(pdf_path: Path) -> tuple[Evidence, str]:
    """Check 1 on a PDF: its attachments, read and checked against evidence.json; (evidence, finding)."""
    from bench.evidence.pdf import read_attachments

    return check_attachments(Path(pdf_path), read_attachments(pdf_path))


def check_attachments(pdf: Path, files: dict[str, bytes]) -> tuple[Evidence, str]:
    """Check 1: the attachments `files` of the PDF `pdf` against evidence.json; (evidence, finding)."""
    if not files:
        raise BenchError(f"{pdf.name}: no embedded evidence (rendered with --no-evidence, or not a bench report)")
    for name in files:
        try:
            check_name(name)
        except BenchError as exc:
            raise BenchError(f"{pdf.name}: {exc}") from None
    if INDEX not in files:
        raise BenchError(f"{pdf.name}: embedded files but no {INDEX}, the index they are checked against")
    try:
        index = parse_index(files[INDEX])
    except BenchError as exc:
        raise BenchError(f"{pdf.name}: {exc}") from None
    for path, entry in index.items():
        if path not in files:
            raise BenchError(f"{pdf.name}: {owner(path)} is listed in {INDEX} but not embedded")
        data = files[path]
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry.sha256 or len(data) != entry.size:
            raise BenchError(f"{pdf.name}: {owner(path)} does not match {INDEX} (SHA-256 {digest[:16]}…, "
                             f"{len(data):,} bytes; recorded {entry.sha256[:16]}…, {entry.size:,} bytes)")
    extra = sorted(set(files) - set(index) - {INDEX})
    if extra:
        raise BenchError(f"{pdf.name}: {owner(extra[0])} is embedded but not listed in {INDEX}")
    summaries = summary_names(files)
    if len(summaries) != 1:
        raise BenchError(f"{pdf.name}: {len(summaries)} summaries embedded ({', '.join(summaries) or 'none'}); "
                         "a report embeds exactly one <name>.summary.json")
    for name in collect.TOP_REQUIRED:
        if name not in files:
            raise BenchError(f"{pdf.name}: {name} is not embedded")
    runs = sorted({parse_run_key(n.rpartition("/")[0]) for n in files if n.count("/") == 2})  # names checked
    evidence = Evidence(pdf, files, summaries[0], parse_json(pdf, summaries[0], files[summaries[0]]), runs)
    return evidence, f"digests: {len(index)} embedded files match {INDEX} (size and SHA-256)"


def source_of(evidence: Evidence, parts: tuple) -> tuple[str, int]:
    """The run-directory file(s) a summary value at `parts` comes from, for a refusal's message, and how many
    models that names (fewer is more precise)."""
    models = {m for m, _ in evidence.runs}
    named = [p for p in parts if isinstance(p, str) and p in models]
    node, seed, pair = evidence.summary, None, []
    for p in parts:  # the innermost record on the way that names a seed, or the models of a pair
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict):
            seed = node["seed"] if isinstance(node.get("seed"), int) else seed
            pair = [node[k] for k in ("a", "b") if node.get(k) in models] or pair
    file = next((SOURCE_OF[p] for p in reversed(parts) if isinstance(p, str) and p in SOURCE_OF), PREDICTIONS)
    if file == MANIFEST:
        return MANIFEST, 0
    chosen = named[:1] or pair or sorted(models)
    seeds = [seed] if seed is not None else sorted({s for m, s in evidence.runs if m in chosen})
    folder = seed_folder(seeds[0]) if len(seeds) == 1 else "seed-*"
    where = " and ".join(owner(f"{m}/{folder}/{file}") for m in chosen)
    return (where if len(chosen) <= 2 else f"the {file} of {len(chosen)} models"), len(chosen)


@contextlib.contextmanager
def run_directory(evidence: Evidence) -> Iterator[Path]:
    """The embedded run directory, extracted to a temporary folder (removed afterwards)."""
    with collect.extracted(evidence.files) as run_dir:
        yield run_dir


def caller_error(evidence: Evidence, run_dir: Path, exc: BenchError) -> BenchError:
    """A refusal of the report's own code, with the temporary folder's paths shown as the PDF's attachments."""
    return evidence.refuse(str(exc).replace(f"{run_dir}/", "").replace(str(run_dir), "the embedded run"))


def check_numbers(evidence: Evidence, run_dir: Path, recompute: Recompute, *, words: bool = True) -> tuple[int, str]:
    """Check 2: (numbers compared, finding); `words`: compare the summary's strings too (numbers.compare)."""
    try:
        recomputed = recompute(run_dir)
    except BenchError as exc:
        raise caller_error(evidence, run_dir, exc) from None
    recomputed = json.loads(json.dumps(recomputed, default=str))  # as it would be written: tuples are lists
    count, diffs = compare(evidence.summary, recomputed, words=words)
    if diffs and all(isinstance(d.embedded, str) and isinstance(d.recomputed, str) for d in diffs):
        # Every number agrees; only sentences differ: not a changed file, but another bench's wording.
        raise evidence.refuse(
            f"every number of {evidence.summary_name} agrees, but {len(diffs):,} of its sentences differ from "
            f"what this bench writes in the report's language (first: {key_path(diffs[0].parts)}); the report was "
            "written by another version of bench: verify it with that version")
    if diffs:
        # The first difference traced to the fewest models: a changed prediction file moves the headline and
        # every pair too, but the message should name the file that changed.
        sources = [source_of(evidence, d.parts) for d in diffs]
        best = min(range(len(diffs)), key=lambda i: (sources[i][1] == 0, sources[i][1]))
        diff, where = diffs[best], sources[best][0]
        more = f" ({len(diffs):,} values disagree)" if len(diffs) > 1 else ""
        raise evidence.refuse(
            f"{key_path(diff.parts)} is {short(diff.embedded)} in {evidence.summary_name} but "
            f"{short(diff.recomputed)} recomputed from the embedded files{more}; it comes from {where}")
    return count, f"numbers: {count:,} numbers of {evidence.summary_name} recomputed from the embedded files agree"


def short(value) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def check_text(evidence: Evidence, run_dir: Path, text: str, formatted_numbers: Formatter | None) -> str:
    """Check 3: the printed numbers and the appendix's table of attachments; the finding."""
    flat = re.sub(r"[\s\u00ad\u200b-]+", "", text).lower()  # digests broken across lines or hyphenated
    for name in sorted(evidence.files):
        if hashlib.sha256(evidence.files[name]).hexdigest()[:DIGEST_SHOWN] not in flat:
            raise evidence.refuse(f"the appendix does not list {owner(name)} with its SHA-256 (the visible "
                                  "table and the embedded files disagree)")
    listed = f"the appendix lists all {len(evidence.files)} embedded files with their SHA-256"
    if formatted_numbers is None:
        return f"text: {listed} (printed numbers not checked: no formatter given)"
    try:
        allowed = allowed_tokens(formatted_numbers(evidence.summary, run_dir))
    except BenchError as exc:
        raise caller_error(evidence, run_dir, exc) from None
    tokens = number_tokens(text)
    for token in tokens:
        if token.text not in allowed:
            raise evidence.refuse(f"page {token.page} prints {token.text}, which no number of "
                                  f"{evidence.summary_name} gives (the visible text was changed, or is not "
                                  "the summary's)")
    pages = text.count("\f") + (0 if text.endswith("\f") else 1)
    return (f"text: {len(tokens):,} decimal numbers and percentages on {pages} page{'s' if pages != 1 else ''} are "
            f"the summary's; {listed}")


def check_protocol(evidence: Evidence) -> str:
    """Check 4: each seed's records belong to its folder and to this study; the finding."""
    import numpy as np

    manifest, dataset = evidence.json(MANIFEST), evidence.json(DATASET)
    refuse = evidence.refuse
    directory = manifest.get("directory")
    if not isinstance(directory, dict) or fingerprint(directory) != manifest.get("fingerprint"):
        raise refuse(f"{MANIFEST}: its directory record does not match its fingerprint")
    recorded = manifest.get("models") if isinstance(manifest.get("models"), dict) else {}
    protocols: dict[str, tuple[str, str]] = {}
    for model, seed in evidence.runs:
        folder = run_key(model, seed)
        if f"{folder}/{CONFIG}" not in evidence.files:
            raise refuse(f"{owner(folder + '/' + CONFIG)} is not embedded, but other files of that run are")
        config = evidence.json(f"{folder}/{CONFIG}")
        where = owner(f"{folder}/{CONFIG}")
        compute = config.get("compute") if isinstance(config.get("compute"), dict) else {}
        if config.get("model") != model or compute.get("seed") != seed:
            raise refuse(f"{where} describes {config.get('model')} seed {compute.get('seed')}")
        if config.get("fingerprint") != fingerprint(compute):
            raise refuse(f"{where}: its settings do not match its fingerprint (edited after training)")
        if config.get("protocol_fingerprint") != fingerprint(protocol_of({"compute": compute})):
            raise refuse(f"{where}: its protocol does not match its protocol fingerprint")
        if config.get("directory_fingerprint") != manifest.get("fingerprint"):
            raise refuse(f"{where} belongs to another study than {MANIFEST} (other directory fingerprint)")
        first = protocols.setdefault(model, (config["protocol_fingerprint"], where))
        if first[0] != config["protocol_fingerprint"]:
            raise refuse(f"{where} and {first[1]} follow different protocols")
        if not isinstance(recorded.get(folder), dict):
            raise refuse(f"{folder} is embedded but {MANIFEST} records no such run")
        if f"{folder}/{METRICS}" in evidence.files:
            metrics = evidence.json(f"{folder}/{METRICS}")
            if (metrics.get("model"), metrics.get("seed")) != (model, seed) or \
                    metrics.get("fingerprint") != config["fingerprint"]:
                raise refuse(f"{owner(folder + '/' + METRICS)} belongs to another run than {where}")
        if f"{folder}/{PREDICTIONS}" in evidence.files:
            try:
                with np.load(io.BytesIO(evidence.files[f"{folder}/{PREDICTIONS}"]), allow_pickle=False) as npz:
                    labels = np.ascontiguousarray(npz["labels"], dtype=np.int64)
            except Exception as exc:  # numpy/zipfile raise many types for a damaged archive
                raise refuse(f"{owner(folder + '/' + PREDICTIONS)} is not a readable archive "
                             f"({type(exc).__name__})") from None
            if hashlib.sha256(labels.tobytes()).hexdigest() != dataset.get("test_labels_sha256"):
                raise refuse(f"{owner(folder + '/' + PREDICTIONS)} holds the labels of another test set than "
                             f"{DATASET} describes")
    embedded = {run_key(m, s) for m, s in evidence.runs}
    for key, entry in sorted(recorded.items()):
        if isinstance(entry, dict) and entry.get("status") == "complete":
            for name in (CONFIG, METRICS, PREDICTIONS):
                if key not in embedded or f"{key}/{name}" not in evidence.files:
                    raise refuse(f"{MANIFEST} records {key} as complete, but its {name} is not embedded")
    return (f"protocol: {len(evidence.runs)} runs' configs, metrics and predictions belong to their folders and "
            f"to this study ({MANIFEST}: directory, protocol and seed fingerprints; {DATASET}: test labels)")


def shape(evidence: Evidence) -> str:
    """'4 models x 1 seed', or '3 runs of 2 models' when the models have different numbers of seeds."""
    seeds: dict[str, int] = {}
    for model, _ in evidence.runs:
        seeds[model] = seeds.get(model, 0) + 1
    counts = set(seeds.values())
    models = f"{len(seeds)} model{'s' if len(seeds) != 1 else ''}"
    if len(counts) == 1:
        n = counts.pop()
        return f"{models} x {n} seed{'s' if n != 1 else ''}"
    return f"{len(evidence.runs)} runs of {models}"


def verify_pdf(pdf_path: Path, *, recompute: Recompute, formatted_numbers: Formatter | None = None,
               text: str | None = None, words: bool = True) -> list[str]:
    """Run the four checks; return one finding per check and the last line. `recompute(run_dir)` is the report's
    analysis (the summary it would embed, in the PDF's language: pdf_metadata(pdf)["language"]);
    `formatted_numbers(summary, run_dir)` every string the report prints for numbers (None: the printed numbers
    are not checked); `text` the PDF's text if already extracted (default: pdf_text); `words`: compare the
    summary's strings too (False: its numbers and structure only)."""
    from bench.evidence.pdf import pdf_text, read_attachments

    return verify_files(Path(pdf_path), read_attachments(pdf_path), pdf_text(pdf_path) if text is None else text,
                        recompute=recompute, formatted_numbers=formatted_numbers, words=words)


def verify_files(pdf: Path, files: dict[str, bytes], text: str, *, recompute: Recompute,
                 formatted_numbers: Formatter | None = None, words: bool = True) -> list[str]:
    """verify_pdf on a PDF's attachments and text already read (what the tests drive in memory)."""
    evidence, found = check_attachments(pdf, files)
    findings = [found]
    with run_directory(evidence) as run_dir:
        count, found = check_numbers(evidence, run_dir, recompute, words=words)
        findings.append(found)
        findings.append(check_text(evidence, run_dir, text, formatted_numbers))
    findings.append(check_protocol(evidence))
    findings.append(f"{evidence.pdf.name}: {count:,} numbers follow from the embedded predictions of "
                    f"{shape(evidence)}")
    return findings


@contextlib.contextmanager
def evidence_run(pdf_path: Path) -> Iterator[Path]:
    """The run directory a PDF embeds, after check 1 and check 4, as a temporary folder: what
    `bench report --from X.pdf` renders from and `bench verify X.pdf --retrain` retrains. A refusal inside
    the block that names the temporary folder is raised again naming the PDF and the attachment instead."""
    evidence, _ = open_evidence(pdf_path)
    check_protocol(evidence)
    with run_directory(evidence) as run_dir:
        try:
            yield run_dir
        except BenchError as exc:
            if str(run_dir) not in str(exc):
                raise
            raise caller_error(evidence, run_dir, exc) from None
