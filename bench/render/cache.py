"""What a report computes that its next render can reuse: the analysis of a run directory (the same in every
language) and, within one language, its charts; kept in a cache folder, keyed by content, never in the run
directory.

    BENCH_CACHE_DIR   the folder (default: $XDG_CACHE_HOME/bench, else ~/.cache/bench)
    BENCH_CACHE=off   compute everything, read and write nothing

A key is a SHA-256 over everything the value depends on: the run's records as loaded (records_digest: manifest,
dataset record, each run's config, metrics, history and prediction arrays), the source of every bench module, and the versions of the libraries that compute or draw (numpy, scipy,
scikit-learn, matplotlib, seaborn); a chart's key adds its inputs, its language and digits, that language's
catalogue and the shipped fonts. Any change there is a new key, so a hit returns what this code would compute
now: the report's bytes are the same with or without the cache (tests/render/test_figures_read.py checks it).
A file's SHA-256 (file_sha256) is keyed by the file's identity (path, size, modification time) instead.
Values are pickles that only bench writes, into the user's own folder; an unreadable or damaged entry is
computed again and replaced. Entries are small (the analysis of a 4-model x 5-seed smoke run is ~0.3 MB,
a chart ~0.1 MB); nothing prunes the folder (delete it at will).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Callable

import bench
from bench.render.assets import TEMPLATES_DIR

CACHE_DIR_ENV = "BENCH_CACHE_DIR"
SWITCH_ENV = "BENCH_CACHE"
FORMAT = b"bench-cache-1\n"  # first bytes of an entry; another layout is a miss
LIBRARIES = ("numpy", "scipy", "scikit-learn", "matplotlib", "seaborn")  # distribution names


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "").strip().lower() not in ("off", "0", "no", "false")


def cache_dir() -> Path:
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bench"


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """bench's source and the computing libraries' versions: what turns the same inputs into other outputs."""
    h = hashlib.sha256(sys.version.encode())
    for name in LIBRARIES:
        # The installed version from its metadata, not module.__version__: importing matplotlib, seaborn and
        # scipy to ask would cost a cached report the ~2 s that bench.render.charts saves it.
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        h.update(f"{name}={version}\n".encode())
    root = Path(bench.__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _key(*parts) -> str:
    return hashlib.sha256(pickle.dumps((code_digest(), *parts), protocol=4)).hexdigest()


def _read(path: Path):
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(FORMAT):
        return None
    try:
        return (pickle.loads(data[len(FORMAT):]),)
    except Exception:  # a damaged or foreign entry is a miss, computed again and replaced
        return None


def _write(path: Path, value) -> None:
    """Atomic (a reader never sees half an entry); a folder that cannot be written only costs the reuse."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(FORMAT + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)


def cached(kind: str, key: str, compute: Callable[[], object]):
    """compute(), or what it returned last time for `key`."""
    if not enabled():
        return compute()
    path = cache_dir() / kind / f"{key}.pickle"
    hit = _read(path)
    if hit is not None:
        return hit[0]
    value = compute()
    _write(path, value)
    return value


def records_digest(artifacts) -> str:
    """What analyse() reads, as loaded: the manifest, dataset record, and every run's status, config, metrics,
    history and prediction arrays. Keyed on this rather than on the files, a run whose records were changed in
    memory (a caller's retitled models, tests) never meets another's analysis."""
    import json

    import numpy as np

    h = hashlib.sha256()

    def add(value) -> None:
        h.update(json.dumps(value, sort_keys=True, default=str).encode() + b"\0")

    add([artifacts.manifest, artifacts.dataset])
    for r in sorted(artifacts.runs, key=lambda r: (r.model, r.seed)):
        add([r.model, r.seed, r.status, r.config, r.metrics, r.history])
        for name, array in sorted((r.predictions or {}).items()):
            a = np.ascontiguousarray(array)
            h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def analysis(artifacts, compute: Callable[[object], dict]) -> dict:
    """compute(artifacts) (bench.results.study.analyse), computed once per content of the loaded records
    (records_digest) and bench version; the caller passes the function, so that what it calls is what runs
    when nothing is cached."""
    if not enabled():
        return compute(artifacts)
    key = _key("analysis", records_digest(artifacts))
    return cached("analysis", key, lambda: compute(artifacts))


def analysis_hit(artifacts) -> tuple | None:
    """(the cached analysis,) of these records, or None (not computed before, or the cache is off)."""
    if not enabled():
        return None
    return _read(cache_dir() / "analysis" / f"{_key('analysis', records_digest(artifacts))}.pickle")


def file_sha256(path: Path, digest: Callable[[Path], str]) -> str:
    """digest(path), a file's SHA-256, remembered by the file's identity (resolved path, device, inode, size and
    modification time): the appendix lists every file of a run directory with its
    SHA-256, and hashing the checkpoints (1.5 GB in a 4-model x 5-seed smoke run) took ~2 s of every render."""
    if not enabled():
        return digest(path)
    st = Path(path).stat()
    key = hashlib.sha256(pickle.dumps(("file", str(Path(path).resolve()), st.st_dev, st.st_ino, st.st_size,
                                       st.st_mtime_ns), protocol=4)).hexdigest()
    return cached("files", key, lambda: digest(path))


# ----------------------------------------------------------------------------- charts

_FIGURES = {"on": False}


@contextlib.contextmanager
def figures():
    """Within this block (a report's render), bench.render.plots' charts are reused from the cache; outside it
    (tests, other callers) they are always drawn."""
    previous = _FIGURES["on"]
    _FIGURES["on"] = enabled()
    try:
        yield
    finally:
        _FIGURES["on"] = previous


@functools.lru_cache(maxsize=8)
def _language_digest(code: str) -> str:
    """The catalogue of a language and the shipped fonts: a chart's words and glyphs."""
    h = hashlib.sha256(code.encode())
    for path in sorted([*(TEMPLATES_DIR / "locale" / code).rglob("*"), *(TEMPLATES_DIR / "fonts").glob("*.ttf")]):
        if path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def figure(fn: Callable, *, deferred: Callable | None = None) -> Callable:
    """A chart function whose bytes come from the cache inside `figures()`; the key is its name, its inputs, the
    active language (code, digits, catalogue) and the fonts. `deferred(*args, **kwargs)`: a miss handed to a worker
    (bench.render.charts.Pending, stored here once drawn), or None to draw it here."""

    def draw(*args, **kwargs):
        pending = deferred(*args, **kwargs) if deferred is not None else None
        return fn(*args, **kwargs) if pending is None else pending

    @functools.wraps(fn)
    def chart(*args, **kwargs):
        if not _FIGURES["on"]:
            return draw(*args, **kwargs)
        from bench.render.i18n import current

        lang = current()
        try:
            key = _key("figure", fn.__module__, fn.__qualname__, args, kwargs, lang.code, lang.digits,
                       _language_digest(lang.code))
        except (pickle.PicklingError, TypeError, AttributeError):  # inputs that cannot be keyed: drawn
            return draw(*args, **kwargs)
        path = cache_dir() / "figures" / f"{key}.pickle"
        hit = _read(path)
        if hit is not None:
            return hit[0]
        value = draw(*args, **kwargs)
        if isinstance(value, bytes):
            _write(path, value)
        else:  # drawn elsewhere: stored when its bytes arrive
            value.future.add_done_callback(lambda f: not f.cancelled() and f.exception() is None and _write(path, f.result()))
        return value

    return chart
