"""One run directory: what it holds, how it is checked, and who may write it.

A run directory (``--artifacts``) holds one comparable study. Two fingerprints decide
membership:

- the directory's (``manifest.json``: ``directory`` and ``fingerprint``): what every member
  shares: profile, the data actually used (digests of each split, so the test set's
  identity), device type, precision, thread count and software versions;
- each model's protocol (``config.json``: ``protocol_fingerprint``): every value of its
  ``compute`` record except the seed, shared by all seeds of that model.

Training checks both before it writes anything (`check_joinable`), under a lock that one
process holds at a time (`RunLock`); the report and `verify` load a directory through
`load_artifacts`, which refuses a directory that mixes runs and names the files that disagree.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.rundir import layout as art
from bench.errors import BenchError
from bench.protocol import STUDY

MODEL_ORDER = list(STUDY)
LOCK_FILE = "bench.lock"

# The fields each artifact must have before anything reads it ("a.b" reaches into objects).
MANIFEST_FIELDS = {"artifact_format": int, "fingerprint": str, "directory": dict, "models": dict, "seeds": list}
DATASET_FIELDS = {"classes": list, "shapes.train": list, "shapes.val": list, "shapes.test": list, "counts.test": dict,
                  "normalisation.mean": list, "normalisation.std": list, "digests.test": str,
                  "test_labels_sha256": str}
CONFIG_FIELDS = {"artifact_format": int, "model": str, "title": str, "fingerprint": str,
                 "protocol_fingerprint": str, "directory_fingerprint": str, "compute.spec.phases": list,
                 "compute.spec.optimizer": str, "compute.seed": int, "compute.model_kwargs": dict,
                 "parameters.total": int, "layers": list}
METRICS_FIELDS = {"artifact_format": int, "model": str, "seed": int, "status": str, "fingerprint": str}
STATUSES = ("complete", "diverged")


def fingerprint(record: Any) -> str:
    """A short digest of a JSON-able record; equal records give equal fingerprints."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def flatten(record: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists stay values."""
    if not isinstance(record, dict):
        return {prefix: record}
    out: dict[str, Any] = {}
    for key, value in record.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def differences(old: dict, new: dict, *, limit: int = 4) -> str:
    """'profile.name: full -> smoke; precision: fp32 -> bf16' for the values that differ."""
    a, b = flatten(old), flatten(new)
    keys = sorted(k for k in set(a) | set(b) if a.get(k, "(absent)") != b.get(k, "(absent)"))
    shown = [f"{k}: {_short(a.get(k, '(absent)'))} -> {_short(b.get(k, '(absent)'))}" for k in keys[:limit]]
    more = f"; and {len(keys) - limit} more" if len(keys) > limit else ""
    return "; ".join(shown) + more


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


class RunLock:
    """An exclusive lock on a run directory, held for as long as a command writes there.

    `flock` on ``bench.lock``: the kernel drops it when its holder dies, so a lock left by a
    dead process is simply taken over; a live holder is named by its pid.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.path = self.root / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> "RunLock":
        import fcntl

        art.ensure_dir(self.root)
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise art.os_error(self.path, exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise art.os_error(self.path, exc) from None
                raise BenchError(f"run directory {self.root} is in use by another bench process (pid {holder}, "
                                 f"lock {self.path}); wait for it to finish or choose another --artifacts") from None
            # The previous holder may have removed the file between our open and our lock: retry on the new one.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None


@dataclass
class SeedRun:
    model: str
    seed: int
    path: Path
    config: dict
    history: list[dict]
    status: str                     # complete | diverged | incomplete
    metrics: dict | None = None
    predictions: dict | None = None


@dataclass
class Artifacts:
    root: Path
    manifest: dict
    dataset: dict
    samples_png: bytes | None
    runs: list[SeedRun] = field(default_factory=list)

    def models(self) -> list[str]:
        names = {r.model for r in self.runs}
        return [m for m in MODEL_ORDER if m in names] + sorted(names - set(MODEL_ORDER))

    def of(self, model: str) -> list[SeedRun]:
        return sorted((r for r in self.runs if r.model == model), key=lambda r: r.seed)


@dataclass
class Member:
    """One <model>/seed-<n> folder with its checked config.json."""

    model: str
    seed: int
    path: Path
    config: dict


def read_manifest(root: Path) -> dict:
    path = Path(root) / art.MANIFEST
    manifest = art.read_json(path, required={"artifact_format": int})
    art.check_format(manifest, path)
    art.check_fields(manifest, MANIFEST_FIELDS, where=path)
    if fingerprint(manifest["directory"]) != manifest["fingerprint"]:
        raise BenchError(f"corrupt artifact {path}: its 'directory' record does not match its fingerprint "
                         "(edited by hand?); train into a new --artifacts directory")
    return manifest


def read_members(root: Path) -> list[Member]:
    """Every <model>/seed-<n>/config.json under `root`, checked for shape and for its own folder name."""
    members = []
    for model, seed, path in art.list_runs(root):
        cfg_path = path / art.CONFIG
        config = art.read_json(cfg_path, required={"artifact_format": int})
        art.check_format(config, cfg_path)
        art.check_fields(config, CONFIG_FIELDS, where=cfg_path)
        check_config_values(config, cfg_path)
        if config["model"] != model or config["compute"]["seed"] != seed:
            raise BenchError(f"corrupt artifact {cfg_path}: it describes {config['model']} seed "
                             f"{config['compute']['seed']}, but lies in {model}/seed-{seed}")
        members.append(Member(model, seed, path, config))
    return members


def check_members(manifest: dict, members: list[Member], root: Path) -> None:
    """Refuse a directory whose members were trained under different fingerprints."""
    strangers = [m for m in members if m.config["directory_fingerprint"] != manifest["fingerprint"]]
    if strangers:
        names = ", ".join(str(m.path / art.CONFIG) for m in strangers[:3])
        raise BenchError(f"{root} mixes runs: {names} {'was' if len(strangers) == 1 else 'were'} trained under "
                         f"another data/profile/device/precision/threads/versions setting than {art.MANIFEST} "
                         f"records; train them again (--force) or keep them in separate --artifacts directories")
    by_model: dict[str, list[Member]] = {}
    for m in members:
        by_model.setdefault(m.model, []).append(m)
    for model, seeds in by_model.items():
        first = seeds[0]
        for other in seeds[1:]:
            if other.config["protocol_fingerprint"] != first.config["protocol_fingerprint"]:
                diff = differences(_protocol(first.config), _protocol(other.config))
                raise BenchError(f"{root} mixes protocols for {model}: {first.path / art.CONFIG} and "
                                 f"{other.path / art.CONFIG} differ ({diff}); seeds of one model must share its "
                                 "protocol: retrain with --force or use separate --artifacts directories")


def _protocol(config: dict) -> dict:
    return {k: v for k, v in config["compute"].items() if k != "seed"}


def check_joinable(root: Path, *, directory: dict, protocols: dict[str, dict], force: bool) -> list[Path]:
    """Check that runs with these fingerprints may be written into `root`; nothing is written here.

    `directory` is the new run's directory record, `protocols` each model's compute record
    without the seed. Returns the member folders that `--force` must discard first (all of
    them when the directory itself differs; a model's other seeds when its protocol differs).
    """
    root = Path(root)
    if not root.exists():
        return []
    if not root.is_dir():
        raise BenchError(f"cannot use --artifacts {root}: it is a file, not a folder")
    members = read_members(root)
    if not (root / art.MANIFEST).exists():
        if members:
            raise BenchError(f"{root} holds trained models but no {art.MANIFEST}; it is damaged: "
                             "choose another --artifacts directory")
        return []
    manifest = read_manifest(root)
    hint = "use another --artifacts directory, or --force to discard what is there and train again"
    if manifest["fingerprint"] != fingerprint(directory) or manifest["directory"] != directory:
        if not force:
            raise BenchError(f"{root} holds a run that is not comparable with this one "
                             f"({differences(manifest['directory'], directory)}); {hint}")
        return [m.path for m in members]
    check_members(manifest, members, root)
    discard: list[Path] = []
    for m in members:
        new = protocols.get(m.model)
        if new is None or m.config["protocol_fingerprint"] == fingerprint(new):
            continue
        if not force:
            raise BenchError(f"{m.path} was trained with another protocol for {m.model} "
                             f"({differences(_protocol(m.config), new)}); all seeds of a model share one: "
                             f"use another --artifacts directory, or --force to retrain every seed of {m.model}")
        discard.append(m.path)
    return discard


def _bad(path: Path, what: str) -> BenchError:
    return BenchError(f"corrupt artifact {path}: {what}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_dataset_values(dataset: dict, path: Path) -> None:
    """Values the report prints and computes with: 10 distinct class names, integer shapes and counts."""
    classes = dataset["classes"]
    if not classes or not all(isinstance(c, str) and c.strip() for c in classes) or len(set(classes)) != len(classes):
        raise _bad(path, "'classes' must be distinct, non-empty names")
    for split, shape in dataset["shapes"].items():
        if not isinstance(shape, list) or not shape or not all(_is_int(v) and v >= 0 for v in shape):
            raise _bad(path, f"shape of {split!r} is not a list of whole numbers")
    for split, counts in dataset["counts"].items():
        if not isinstance(counts, dict) or set(counts) != set(classes) or \
                not all(_is_int(v) and v >= 0 for v in counts.values()):
            raise _bad(path, f"counts of {split!r} are not whole numbers for each class")
    for key in ("mean", "std"):
        values = dataset["normalisation"][key]
        if len(values) != 3 or not all(_is_number(v) for v in values):
            raise _bad(path, f"normalisation {key} is not three numbers")
    if "augmentation" in dataset and not isinstance(dataset["augmentation"], dict):
        raise _bad(path, "'augmentation' should be an object")
    if not isinstance(dataset.get("checksums", {}), dict):
        raise _bad(path, "'checksums' should be an object")


def check_manifest_values(manifest: dict, path: Path) -> None:
    for key in ("models", "weights", "protocol", "executor"):
        value = manifest.get(key)
        if value is not None and not isinstance(value, dict):
            raise _bad(path, f"{key!r} should be an object")
    for key in ("models", "weights"):
        for name, entry in (manifest.get(key) or {}).items():
            if not isinstance(entry, dict):
                raise _bad(path, f"{key}[{name!r}] should be an object")
    if not all(_is_int(s) for s in manifest["seeds"]):
        raise _bad(path, "'seeds' should be whole numbers")


def check_config_values(config: dict, path: Path) -> None:
    """The spec and layer values the report and verify use: refused here rather than crashed on later."""
    spec = config["compute"]["spec"]
    phases = spec["phases"]
    if not phases or not all(isinstance(p, dict) and _is_number(p.get("lr")) and p["lr"] > 0
                             and _is_int(p.get("epochs")) and p["epochs"] >= 1 for p in phases):
        raise _bad(path, "compute.spec.phases must be a non-empty list of {lr > 0, epochs >= 1}")
    for key, check in (("batch_size", lambda v: _is_int(v) and v >= 1),
                       ("weight_decay", lambda v: _is_number(v) and v >= 0),
                       ("momentum", lambda v: _is_number(v) and v >= 0),
                       ("backbone_lr_scale", lambda v: _is_number(v) and v >= 0)):
        if key in spec and not check(spec[key]):
            raise _bad(path, f"compute.spec.{key} = {spec[key]!r} is out of range")
    compute = config["compute"]
    if "eval_batch_size" in compute and not (_is_int(compute["eval_batch_size"]) and compute["eval_batch_size"] >= 1):
        raise _bad(path, "compute.eval_batch_size must be a whole number >= 1")
    legal = {"precision": ("fp32", "bf16"), "pipeline": ("fast", "torchvision"), "device_type": ("cpu", "cuda"),
             "compile": ("none", "default", "reduce-overhead")}
    for key, choices in legal.items():
        if key in compute and compute[key] not in choices:
            raise _bad(path, f"compute.{key} = {compute[key]!r}, expected one of: {', '.join(choices)}")
    for key, value in compute["model_kwargs"].items():
        if key in ("frozen_blocks", "image_size") and not _is_int(value):
            raise _bad(path, f"compute.model_kwargs.{key} should be a whole number")
    if not all(isinstance(row, dict) and _is_int(row.get("params")) for row in config["layers"]):
        raise _bad(path, "'layers' rows should be objects with whole-number params")


def load_artifacts(root: Path) -> Artifacts:
    """Read and check a whole run directory: every artifact's shape, and that its members belong together."""
    root = Path(root)
    if not root.exists():
        raise BenchError(f"artifacts directory {root} does not exist; run `bench all` or `bench train` first")
    if not root.is_dir():
        raise BenchError(f"{root} is not a directory")
    if not (root / art.MANIFEST).exists():
        raise BenchError(f"{root} is not a bench artifacts directory (no {art.MANIFEST}); "
                         "run `bench all` or `bench train` into it first")
    manifest = read_manifest(root)
    check_manifest_values(manifest, root / art.MANIFEST)
    dataset = art.read_json(root / art.DATASET, required=DATASET_FIELDS)
    check_dataset_values(dataset, root / art.DATASET)
    classes = dataset["classes"]
    n_test = dataset["shapes"]["test"][0]
    if dataset["digests"] != manifest["directory"].get("data"):
        raise BenchError(f"{root / art.DATASET} describes other data than {root / art.MANIFEST} records; "
                         "the directory is damaged or mixed: train into a new --artifacts directory")
    samples = (root / art.SAMPLES).read_bytes() if (root / art.SAMPLES).is_file() else None
    if samples is not None and not samples.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BenchError(f"corrupt artifact {root / art.SAMPLES}: not a PNG image")
    members = read_members(root)
    if not members:
        raise BenchError(f"{root} holds no trained model (no <model>/seed-<n>/config.json)")
    check_members(manifest, members, root)
    runs = []
    for m in members:
        history = art.read_history(m.path / art.HISTORY) if (m.path / art.HISTORY).exists() else []
        run = SeedRun(m.model, m.seed, m.path, m.config, history, "incomplete")
        metrics_path = m.path / art.METRICS
        if metrics_path.exists():
            metrics = art.read_json(metrics_path, required=METRICS_FIELDS)
            if metrics["status"] not in STATUSES:
                raise BenchError(f"corrupt artifact {metrics_path}: status {metrics['status']!r}, "
                                 f"expected one of: {', '.join(STATUSES)}")
            for key in ("train_seconds", "eval_seconds"):
                if metrics.get(key) is not None and not _is_number(metrics[key]):
                    raise _bad(metrics_path, f"{key!r} should be a number")
            if metrics["fingerprint"] != m.config["fingerprint"]:
                raise BenchError(f"{metrics_path} does not belong to {m.path / art.CONFIG} (other fingerprint); "
                                 f"retrain {m.model} seed {m.seed} with --force")
            if metrics.get("epochs_run") is not None and metrics["epochs_run"] != len(history):
                raise BenchError(f"{m.path / art.HISTORY} holds {len(history)} epochs but {metrics_path} "
                                 f"records {metrics['epochs_run']}")
            run.metrics, run.status = metrics, metrics["status"]
            if run.status == "complete":
                art.check_fields(metrics, {"test.accuracy": float, "test.loss": float}, where=metrics_path)
                pred_path = m.path / art.PREDICTIONS
                run.predictions = art.read_predictions(pred_path, num_classes=len(classes), n=n_test)
                digest = hashlib.sha256(np.ascontiguousarray(run.predictions["labels"], dtype=np.int64)
                                        .tobytes()).hexdigest()
                if digest != dataset["test_labels_sha256"]:
                    raise BenchError(f"{pred_path} holds the labels of another test set than "
                                     f"{root / art.DATASET} describes")
        runs.append(run)
    return Artifacts(root, manifest, dataset, samples, runs)
