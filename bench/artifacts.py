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
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from . import ARTIFACT_FORMAT
from .errors import BenchError

MANIFEST = "manifest.json"
DATASET = "dataset.json"
SAMPLES = "samples.png"
CONFIG = "config.json"
HISTORY = "history.csv"
PREDICTIONS = "predictions.npz"
METRICS = "metrics.json"
CHECKPOINT = "checkpoint.pt"

# Columns of history.csv, in order.
HISTORY_FIELDS = (
    "epoch", "phase", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds",
)


def seed_dir(root: Path, model: str, seed: int) -> Path:
    return Path(root) / model / f"seed-{seed}"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp creates 0600; give the final file the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


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


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BenchError(f"missing artifact: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchError(f"corrupt artifact {path}: {exc}") from None


def write_history(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in HISTORY_FIELDS})
    write_bytes(path, buf.getvalue().encode())


def read_history(path: Path) -> list[dict]:
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != HISTORY_FIELDS:
                raise BenchError(f"corrupt artifact {path}: unexpected columns {reader.fieldnames}")
            rows = []
            for row in reader:
                rows.append({
                    k: (int(v) if k in ("epoch", "phase") else float(v)) for k, v in row.items()
                })
            return rows
    except FileNotFoundError:
        raise BenchError(f"missing artifact: {path}") from None
    except ValueError as exc:
        raise BenchError(f"corrupt artifact {path}: {exc}") from None


def write_predictions(path: Path, labels: np.ndarray, logits: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        labels=labels.astype(np.int64),
        logits=logits.astype(np.float32),
        predicted=logits.argmax(axis=1).astype(np.int64),
    )
    write_bytes(path, buf.getvalue())


def read_predictions(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            out = {k: npz[k] for k in ("labels", "logits", "predicted")}
    except FileNotFoundError:
        raise BenchError(f"missing artifact: {path}") from None
    except (KeyError, ValueError, OSError, EOFError) as exc:
        raise BenchError(f"corrupt artifact {path}: {exc}") from None
    n = len(out["labels"])
    if out["logits"].shape[0] != n or out["predicted"].shape != (n,):
        raise BenchError(f"corrupt artifact {path}: arrays of different lengths")
    return out


def save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict:
    try:
        # weights_only: a checkpoint is data, never code to run.
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BenchError(f"missing checkpoint: {path}") from None
    except Exception as exc:  # torch raises many types for a damaged file
        raise BenchError(
            f"corrupt checkpoint {path} ({type(exc).__name__}); "
            "delete it or re-run with --force to start this model again"
        ) from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_format(manifest: dict, path: Path) -> None:
    found = manifest.get("artifact_format")
    if found != ARTIFACT_FORMAT:
        raise BenchError(
            f"{path} was written with artifact format {found!r}; this bench reads format "
            f"{ARTIFACT_FORMAT} (re-run the training with this version)"
        )


def list_runs(root: Path) -> list[tuple[str, int, Path]]:
    """Every (model, seed, directory) under `root` that holds a config.json."""
    runs = []
    for cfg in sorted(Path(root).glob(f"*/seed-*/{CONFIG}")):
        model = cfg.parent.parent.name
        try:
            seed = int(cfg.parent.name.split("-", 1)[1])
        except ValueError:
            continue
        runs.append((model, seed, cfg.parent))
    return runs
