"""The evidence of a report: which run-directory files its numbers are computed from, their index, and how a
set of embedded files becomes a run directory again.

What travels (each under its run-directory path, '/'-separated):

    manifest.json, dataset.json        the study's records (data digests, protocol, fingerprints)
    samples.png                        the sample grid: not a source of numbers, but the report shows it, so a
                                       report rendered again from the evidence (`bench report --from X.pdf`) is
                                       the same report (365 KB of the smoke study's evidence)
    <model>/seed-<n>/config.json, metrics.json, history.csv, predictions.npz
    <name>.summary.json                the report's own summary (added by the renderer: summary_file)
    evidence.json                      the index: path -> size, SHA-256 of every other attachment (index_file)

Checkpoints stay out: no number of the report is read from them, and they are 70-160 MB each.

The run directory's own records carry no digests of its artifacts (manifest.json holds fingerprints of the
protocol and of the data, not of the files), so the index is written at render time and travels with them;
`bench verify X.pdf` checks every attachment against it, and the report's appendix prints the same table.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from bench.errors import BenchError
from bench.rundir.layout import (CONFIG, DATASET, HISTORY, MANIFEST, METRICS, PREDICTIONS, SAMPLES, SEED_DIR,
                                 list_runs, parse_run_key, run_key)

# The index attachment; its name can be no run-directory file.
INDEX = "evidence.json"
# Version of the index's layout, so that a later bench can read an older PDF or refuse it by name.
INDEX_FORMAT = 1
# The files of one <model>/seed-<n> folder that numbers come from, in the order the appendix lists them.
SEED_EVIDENCE = (CONFIG, METRICS, HISTORY, PREDICTIONS)
# Top-level files: required ones first; samples.png travels when present (see the module docstring).
TOP_REQUIRED = (MANIFEST, DATASET)
TOP_OPTIONAL = (SAMPLES,)
SUMMARY_SUFFIX = ".summary.json"
# A model folder's name as bench.models.registry allows it (lower-case identifier); the one character class
# that keeps an embedded name from leaving the folder it is extracted into.
MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# A summary's name: the report's file name (any the user may choose for --out), as one path component: no
# separator, no control character, not hidden. It is never written to disk by extract().
SUMMARY_NAME = re.compile(r"^[^/\\\x00-\x1f.][^/\\\x00-\x1f]{0,199}\.summary\.json$")


@dataclass(frozen=True)
class EvidenceFile:
    """One embedded file."""

    path: str    # its run-directory path, '/'-separated (e.g. "mlp/seed-0/predictions.npz"); the attachment name
    data: bytes  # its exact bytes
    sha256: str  # hex SHA-256 of `data`

    @property
    def size(self) -> int:
        """Bytes, as the appendix and the index give it."""
        return len(self.data)


def make_file(path: str, data: bytes) -> EvidenceFile:
    return EvidenceFile(path, bytes(data), hashlib.sha256(data).hexdigest())


def read_regular(path: Path, shown: str) -> bytes:
    """The bytes of a regular file, opened without following a link; a link or anything else is refused.
    O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if Path(path).is_symlink():
            raise BenchError(f"{shown} is a link; evidence is read from the run directory's own files only") \
                from None
        raise BenchError(f"cannot read {shown}: {exc.strerror or type(exc).__name__}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise BenchError(f"{shown} is not a regular file; evidence is read from plain files only")
        return handle.read()


def evidence_files(run_dir: Path) -> list[EvidenceFile]:
    """Every file the report's numbers come from (see the module docstring), sorted by path.

    Refuses a link or non-regular file where a piece of evidence should be, naming it; ignores everything else
    in the directory (checkpoints, locks, a user's notes)."""
    root = Path(run_dir)
    if not root.is_dir():
        raise BenchError(f"{root} is not a run directory (not a folder)")
    files = []
    for name in TOP_REQUIRED + TOP_OPTIONAL:
        path = root / name
        if not path.exists() and not path.is_symlink():
            if name in TOP_REQUIRED:
                raise BenchError(f"{root} is not a bench run directory (no {name})")
            continue
        files.append(make_file(name, read_regular(path, str(path))))
    for model, seed, folder in list_runs(root):  # refuses linked seed folders
        if not MODEL_NAME.match(model):
            raise BenchError(f"{folder.parent} is not a model folder bench writes (names match "
                             f"{MODEL_NAME.pattern})")
        for name in SEED_EVIDENCE:
            path = folder / name
            if path.exists() or path.is_symlink():
                files.append(make_file(f"{run_key(model, seed)}/{name}", read_regular(path, str(path))))
    return sorted(files, key=lambda f: f.path)


def summary_file(name: str, data: bytes) -> EvidenceFile:
    """The report's summary JSON as an attachment named `name` (e.g. "report.summary.json")."""
    if not SUMMARY_NAME.match(name):
        raise BenchError(f"summary name {name!r} should be one file name ending in .summary.json, "
                         "e.g. report.summary.json")
    return make_file(name, data)


def index_file(files: list[EvidenceFile]) -> EvidenceFile:
    """evidence.json: size and SHA-256 of every attachment, in path order; stable bytes for stable input."""
    entries = [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in sorted(files, key=lambda f: f.path)]
    paths = [e["path"] for e in entries]
    if len(set(paths)) != len(paths) or INDEX in paths:
        raise ValueError(f"evidence paths must be distinct and not {INDEX}: {paths}")  # a bug of the caller
    record = {"format": INDEX_FORMAT, "files": entries}
    return make_file(INDEX, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())


@dataclass(frozen=True)
class IndexEntry:
    """What evidence.json records of one attachment."""

    size: int    # bytes
    sha256: str  # hex SHA-256


def parse_index(data: bytes) -> dict[str, IndexEntry]:
    """evidence.json's entries by path; a damaged index is a BenchError naming what is wrong."""
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BenchError(f"{INDEX} is not valid JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != INDEX_FORMAT or not isinstance(record.get("files"),
                                                                                               list):
        raise BenchError(f"{INDEX} is not an evidence index of format {INDEX_FORMAT} "
                         "(expected {'format': 1, 'files': [...]})")
    out: dict[str, IndexEntry] = {}
    for entry in record["files"]:
        ok = isinstance(entry, dict) and isinstance(entry.get("path"), str) and \
            isinstance(entry.get("size"), int) and isinstance(entry.get("sha256"), str)
        if not ok or entry["path"] in out:
            raise BenchError(f"{INDEX} has a damaged or repeated entry: {json.dumps(entry)[:80]}")
        out[entry["path"]] = IndexEntry(entry["size"], entry["sha256"].lower())
    return out


def check_name(name: str) -> str:
    """An attachment's name if it is one bench writes, else a BenchError naming it: nothing else is extracted,
    so that no embedded name can reach outside the folder it is extracted into."""
    parts = name.split("/")
    if name in TOP_REQUIRED + TOP_OPTIONAL or name == INDEX or (len(parts) == 1 and SUMMARY_NAME.match(name)):
        return name
    if len(parts) == 3 and MODEL_NAME.match(parts[0]) and SEED_DIR.match(parts[1]) and parts[2] in SEED_EVIDENCE:
        return name
    raise BenchError(f"attachment {name!r} is no file bench embeds (legal: {', '.join(TOP_REQUIRED)}, {SAMPLES}, "
                     f"{INDEX}, <name>{SUMMARY_SUFFIX}, <model>/seed-<n>/{{{','.join(SEED_EVIDENCE)}}})")


def owner(path: str) -> str:
    """'mlp/seed-0/config.json' -> 'mlp/seed-0/config.json (model mlp, seed 0)'; other names unchanged."""
    key, _, _ = path.rpartition("/")
    if path.count("/") == 2 and SEED_DIR.match(key.partition("/")[2]):
        model, seed = parse_run_key(key)
        return f"{path} (model {model}, seed {seed})"
    return path


def summary_names(names) -> list[str]:
    """The summary attachments among `names` (there should be exactly one)."""
    return sorted(n for n in names if "/" not in n and n.endswith(SUMMARY_SUFFIX))


def extract(files: dict[str, bytes], dest: Path) -> Path:
    """Write the run-directory files among `files` under `dest` at their paths (checked by check_name); the
    summary and the index stay out, so that `dest` is a run directory as `bench train` leaves it."""
    dest = Path(dest)
    for name, data in sorted(files.items()):
        check_name(name)
        if name == INDEX or name in summary_names([name]):
            continue
        path = dest.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return dest


@contextlib.contextmanager
def extracted(files: dict[str, bytes]) -> Iterator[Path]:
    """A temporary run directory holding `files` (see extract), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as tmp:
        yield extract(files, Path(tmp) / "run")
