"""The artifacts contract: where each file lives, and how it is written and read.

Layout of one run directory (``--artifacts``)::

    manifest.json            command, versions, device, git commit, seeds, wall times
    dataset.json             classes, counts, shapes, normalisation, checksum verdict
    samples.png              per-class sample grid
    <model>/seed-<n>/
        config.json          every protocol value used
        history.csv          one row per epoch
        predictions.npz      test labels, logits, predicted class
        metrics.json         test loss, accuracy, macro P/R/F1, status
        checkpoint.pt        model + optimizer + scheduler after the last epoch

Every write goes to a temporary file in the same directory and is renamed into
place, so a crash at any moment leaves either the old file or the new one, never
a truncated one.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from bench import ARTIFACT_FORMAT
from bench.errors import BenchError

MANIFEST = "manifest.json"
DATASET = "dataset.json"
SAMPLES = "samples.png"
CONFIG = "config.json"
HISTORY = "history.csv"
PREDICTIONS = "predictions.npz"
METRICS = "metrics.json"
CHECKPOINT = "checkpoint.pt"
# Every file of one <model>/seed-<n> folder; --force removes them all before training it again.
SEED_FILES = (CHECKPOINT, METRICS, PREDICTIONS, HISTORY, CONFIG)

# Columns of history.csv, in order.
HISTORY_FIELDS = (
    "epoch", "phase", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds",
)


# A seed's folder name, exactly as bench writes it: ASCII digits, no leading zero (seed-01 would be seed 1 twice).
SEED_DIR = re.compile(r"^seed-(0|[1-9][0-9]{0,9})$")


def seed_folder(seed: int) -> str:
    """'seed-3': the folder of one seed inside its model's folder."""
    return f"seed-{seed}"


def run_key(model: str, seed: int) -> str:
    """'mlp/seed-3': the ONE name of a model x seed run (manifest keys, logs, exports, tracker runs)."""
    return f"{model}/{seed_folder(seed)}"


def parse_run_key(key: str) -> tuple[str, int]:
    """'mlp/seed-3' -> ('mlp', 3); anything else is a BenchError naming the expected form."""
    model, sep, folder = str(key).rpartition("/")
    match = SEED_DIR.match(folder)
    if not sep or not model or not match:
        raise BenchError(f"{key!r} does not name a run (expected <model>/seed-<n>, e.g. mlp/seed-0)")
    return model, int(match.group(1))


def seed_dir(root: Path, model: str, seed: int) -> Path:
    return Path(root) / model / seed_folder(seed)


def os_error(path: Path, exc: OSError) -> BenchError:
    """One line for a failed read or write: what, where, and the system's reason (disk full, read-only, ...)."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        reason = "no space left on the device"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST) or isinstance(exc, (NotADirectoryError, FileExistsError)):
        reason = "a part of the path is a file, not a folder"
    return BenchError(f"cannot write {path}: {reason}")


def ensure_dir(path: Path) -> Path:
    """Create `path` and its parents, or fail with one line (a file in the way, no permission, disk full)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(path, exc) from None
    if not path.is_dir():
        raise BenchError(f"cannot write {path}: it is a file, not a folder")
    return path


def check_writable_dir(path: Path, *, what: str = "--artifacts") -> Path:
    """Check, without writing anything, that `path` is or can become a writable folder."""
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            raise BenchError(f"cannot use {what} {path}: {probe} is a broken link")
        probe = probe.parent
    if not probe.is_dir():
        raise BenchError(f"cannot use {what} {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise BenchError(f"cannot use {what} {path}: folder {probe} is not writable")
    return path


def kind_of(mode: int) -> str:
    """What a file system entry is, in words, for a refusal ('a link', 'a FIFO', ...)."""
    kinds = ((stat.S_ISLNK, "a link"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"),
             (stat.S_ISREG, "a regular file"))
    return next((name for test, name in kinds if test(mode)), "an unknown kind of file")


def not_regular(path: Path, mode: int) -> BenchError:
    return BenchError(f"{path} is {kind_of(mode)}; everything bench reads or writes in a run directory is a "
                      "regular file or a real folder inside it (links are never followed): remove or replace it")


def check_tree(root: Path) -> None:
    """Refuse a run directory holding anything but regular files and real folders: a link (to a file or a
    folder, inside or outside, broken or not), a FIFO, a socket or a device, at any depth.

    Checked without following links (lstat), by every writer when it takes the lock (bench.rundir.lock) and
    by every reader before it reads (bench.rundir.rundir.load_artifacts): a link can then never make bench
    read, write or delete a file outside the run directory, and a FIFO never hangs a reader. `root` itself may
    be a link: the user named it.
    """
    root = Path(root)
    errors: list[OSError] = []
    for folder, dirs, files in os.walk(root, followlinks=False, onerror=errors.append):
        for name in sorted(dirs) + sorted(files):
            path = Path(folder) / name
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                continue  # removed meanwhile: nothing to read there
            except OSError as exc:
                raise BenchError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise not_regular(path, mode)
    for exc in errors:
        if not isinstance(exc, FileNotFoundError) and Path(exc.filename or root) != root:
            raise BenchError(f"cannot read {exc.filename}: {exc.strerror or type(exc).__name__}")


def open_regular(path: Path, mode: str = "rb", **kwargs):
    """Open an artifact for reading without following a link, and only if it is a regular file.

    O_NOFOLLOW refuses a link in the last component; O_NONBLOCK keeps a FIFO from blocking the open. A missing
    file raises FileNotFoundError, as open() does; anything else in its place is one BenchError naming it.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise not_regular(path, stat.S_IFLNK) from None
        raise
    try:
        st_mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(st_mode):
            raise not_regular(path, st_mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` on success.

    Any OS failure (disk full, permissions, a file where a folder should be) becomes one
    BenchError line, and the temporary file is removed, so the old file stays as it was.
    """
    path = Path(path)
    ensure_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise os_error(path, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        # mkstemp creates 0600; give the final file the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        raise os_error(path, exc) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=True)
    write_bytes(path, (text + "\n").encode())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: Path, *, kind: type = dict, required: dict[str, type | tuple] | None = None) -> Any:
    """Parse a JSON artifact and check its shape: the top-level type and required keys with their types.

    A missing, truncated, empty or wrongly shaped file is one BenchError naming the file.
    """
    path = Path(path)
    try:
        with open_regular(path, "rb") as fh:
            obj = json.loads(fh.read().decode())
    except FileNotFoundError:
        raise BenchError(f"missing artifact: {path}") from None
    except IsADirectoryError:
        raise BenchError(f"corrupt artifact {path}: a folder, not a file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = "empty file" if path.stat().st_size == 0 else str(exc)
        raise BenchError(f"corrupt artifact {path}: {detail}") from None
    except OSError as exc:
        raise BenchError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    if not isinstance(obj, kind):
        raise BenchError(f"corrupt artifact {path}: expected a JSON {_type_name(kind)}, "
                         f"found a {_type_name(type(obj))}")
    if required:
        check_fields(obj, required, where=path)
    return obj


def _type_name(t) -> str:
    names = {dict: "object", list: "array", str: "string", int: "integer", float: "number", bool: "boolean",
             type(None): "null"}
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    return names.get(t, t.__name__)


def check_fields(obj: dict, required: dict[str, type | tuple], *, where: Path) -> None:
    """Every key of `required` is present with its type ('a.b' reaches into nested objects)."""
    for key, kind in required.items():
        value, here = obj, ""
        for part in key.split("."):
            here = f"{here}.{part}" if here else part
            if not isinstance(value, dict) or part not in value:
                raise BenchError(f"corrupt artifact {where}: no {here!r} field")
            value = value[part]
        # JSON has one number type; bools are not numbers here.
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
        if not ok:
            raise BenchError(f"corrupt artifact {where}: {key!r} should be a {_type_name(kind)}, "
                             f"found {_type_name(type(value))}")


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def write_history(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in HISTORY_FIELDS})
    write_bytes(path, buf.getvalue().encode())


def read_history(path: Path) -> list[dict]:
    """Rows of history.csv; a missing, empty, truncated or non-numeric file is one BenchError naming it."""
    path = Path(path)
    try:
        with open_regular(path, "r", newline="") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != HISTORY_FIELDS:
                found = "no header (empty file)" if not reader.fieldnames else f"columns {reader.fieldnames}"
                raise BenchError(f"corrupt artifact {path}: {found}, expected {', '.join(HISTORY_FIELDS)}")
            rows = []
            for line, row in enumerate(reader, start=2):
                if None in row or any(v is None for v in row.values()):
                    raise BenchError(f"corrupt artifact {path}: line {line} does not have "
                                     f"{len(HISTORY_FIELDS)} columns (truncated?)")
                rows.append({k: (int(v) if k in ("epoch", "phase") else float(v)) for k, v in row.items()})
    except FileNotFoundError:
        raise BenchError(f"missing artifact: {path}") from None
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        raise BenchError(f"corrupt artifact {path}: {exc}") from None
    except OSError as exc:
        raise BenchError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    if [r["epoch"] for r in rows] != list(range(1, len(rows) + 1)):
        raise BenchError(f"corrupt artifact {path}: epochs are not numbered 1, 2, 3, ... in order")
    return rows


def write_predictions(path: Path, labels: np.ndarray, logits: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        labels=labels.astype(np.int64),
        logits=logits.astype(np.float32),
        predicted=logits.argmax(axis=1).astype(np.int64),
    )
    write_bytes(path, buf.getvalue())


def read_predictions(path: Path, *, num_classes: int | None = None, n: int | None = None) -> dict[str, np.ndarray]:
    """The arrays of predictions.npz, checked: lengths agree (and equal `n`), labels in range, predicted = argmax."""
    path = Path(path)
    try:
        with open_regular(path) as fh, np.load(fh, allow_pickle=False) as npz:
            out = {k: npz[k] for k in ("labels", "logits", "predicted")}
    except FileNotFoundError:
        raise BenchError(f"missing artifact: {path}") from None
    except BenchError:
        raise
    except KeyError as exc:
        raise BenchError(f"corrupt artifact {path}: no array {exc}") from None
    except Exception as exc:  # numpy/zipfile raise many types for a damaged file
        raise BenchError(f"corrupt artifact {path} ({type(exc).__name__}: {exc})") from None
    labels, logits, predicted = out["labels"], out["logits"], out["predicted"]
    if labels.ndim != 1 or logits.ndim != 2 or predicted.shape != labels.shape or logits.shape[0] != len(labels):
        raise BenchError(f"corrupt artifact {path}: arrays of different lengths or shapes "
                         f"(labels {labels.shape}, logits {logits.shape}, predicted {predicted.shape})")
    if labels.dtype.kind not in "iu" or predicted.dtype.kind not in "iu" or logits.dtype.kind != "f":
        raise BenchError(f"corrupt artifact {path}: wrong array types (labels {labels.dtype}, "
                         f"predicted {predicted.dtype}, logits {logits.dtype})")
    if n is not None and len(labels) != n:
        raise BenchError(f"corrupt artifact {path}: {len(labels):,} predictions for a test set of {n:,} images")
    k = num_classes if num_classes is not None else logits.shape[1]
    if logits.shape[1] != k:
        raise BenchError(f"corrupt artifact {path}: logits for {logits.shape[1]} classes, expected {k}")
    if len(labels) and (labels.min() < 0 or labels.max() >= k):
        raise BenchError(f"corrupt artifact {path}: labels outside 0-{k - 1}")
    if not np.isfinite(logits).all():
        raise BenchError(f"corrupt artifact {path}: logits that are NaN or infinite (a finished run has none)")
    if len(labels) and not np.array_equal(predicted, logits.argmax(axis=1)):
        raise BenchError(f"corrupt artifact {path}: 'predicted' is not the argmax of the logits")
    return out


# torch is imported by the two functions that write and read checkpoints, not by this module: the report and
# `bench verify` read run directories through it and never touch a checkpoint, and torch costs ~2 s to import.
def save_checkpoint(path: Path, state: dict) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict:
    import torch

    try:
        # weights_only: a checkpoint is data, never code to run.
        with open_regular(path) as fh:
            return torch.load(fh, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BenchError(f"missing checkpoint: {path}") from None
    except BenchError:
        raise
    except Exception as exc:  # torch raises many types for a damaged file
        raise BenchError(
            f"corrupt checkpoint {path} ({type(exc).__name__}); "
            "delete it or re-run with --force to start this model again"
        ) from None


def sha256_file(path: Path) -> str:
    """SHA-256 of a run directory's file, opened without following a link.

    hashlib's own file reader rather than bench.models.registry.sha256_file (the same digest): the registry imports
    torch, which a report, which hashes every file it lists, has no other use for."""
    with open_regular(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def check_format(manifest: dict, path: Path) -> None:
    found = manifest.get("artifact_format")
    if found != ARTIFACT_FORMAT:
        raise BenchError(
            f"{path} was written with artifact format {found!r}; this bench reads format "
            f"{ARTIFACT_FORMAT} (re-run the training with this version)"
        )


def list_runs(root: Path) -> list[tuple[str, int, Path]]:
    """Every (model, seed, directory) under `root` that holds a config.json.

    Only folders named exactly as bench names them (`seed-<n>`, ASCII digits, no leading zero)
    count; any other `seed-*` folder holding a config.json, or two names for one folder
    (a link), is refused: it would be counted as a seed twice.
    """
    runs, seen = [], {}
    for cfg in sorted(Path(root).glob(f"*/seed-*/{CONFIG}")):
        folder = cfg.parent
        match = SEED_DIR.match(folder.name)
        if not match:
            raise BenchError(f"{folder} is not a seed folder bench wrote (expected seed-<n>, e.g. seed-0); "
                             "rename or remove it")
        real = folder.resolve()
        if real in seen or folder.is_symlink() or folder.parent.is_symlink():
            raise BenchError(f"{folder} is a link{f' to {seen[real]}' if real in seen else ''}; a run directory "
                             "holds each seed once, as a real folder")
        seen[real] = folder
        runs.append((folder.parent.name, int(match.group(1)), folder))
    return runs
