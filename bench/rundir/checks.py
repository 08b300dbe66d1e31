"""What a run directory's records must hold: the required fields of each artifact, their legal values,
and the fingerprints that decide which runs belong together.

Every reader of a run directory checks through these (bench.rundir.rundir.RunDir.load), so a damaged or
hand-edited file is refused once, by name, before anything computes with it.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from bench.config import CompileMode, Device, Pipeline, Precision
from bench.errors import BenchError

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
# The statuses of a finished job (metrics.json); "unfinished" is a paused Ray job, never saved as done.
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
    shown = [f"{k}: {short(a.get(k, '(absent)'))} -> {short(b.get(k, '(absent)'))}" for k in keys[:limit]]
    more = f"; and {len(keys) - limit} more" if len(keys) > limit else ""
    return "; ".join(shown) + more


def short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def protocol_of(config: dict) -> dict:
    """A member's protocol: its compute record without the seed (shared by every seed of a model)."""
    return {k: v for k, v in config["compute"].items() if k != "seed"}


def corrupt(path: Path, what: str) -> BenchError:
    return BenchError(f"corrupt artifact {path}: {what}")


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_dataset_values(dataset: dict, path: Path) -> None:
    """Values the report prints and computes with: 10 distinct class names, integer shapes and counts."""
    classes = dataset["classes"]
    if not classes or not all(isinstance(c, str) and c.strip() for c in classes) or len(set(classes)) != len(classes):
        raise corrupt(path, "'classes' must be distinct, non-empty names")
    for split, shape in dataset["shapes"].items():
        if not isinstance(shape, list) or not shape or not all(is_int(v) and v >= 0 for v in shape):
            raise corrupt(path, f"shape of {split!r} is not a list of whole numbers")
    for split, counts in dataset["counts"].items():
        if not isinstance(counts, dict) or set(counts) != set(classes) or \
                not all(is_int(v) and v >= 0 for v in counts.values()):
            raise corrupt(path, f"counts of {split!r} are not whole numbers for each class")
    for key in ("mean", "std"):
        values = dataset["normalisation"][key]
        if len(values) != 3 or not all(is_number(v) for v in values):
            raise corrupt(path, f"normalisation {key} is not three numbers")
    if "augmentation" in dataset and not isinstance(dataset["augmentation"], dict):
        raise corrupt(path, "'augmentation' should be an object")
    if not isinstance(dataset.get("checksums", {}), dict):
        raise corrupt(path, "'checksums' should be an object")


def check_manifest_values(manifest: dict, path: Path) -> None:
    for key in ("models", "weights", "protocol", "executor", "machine"):
        value = manifest.get(key)
        if value is not None and not isinstance(value, dict):
            raise corrupt(path, f"{key!r} should be an object")
    for key in ("models", "weights"):
        for name, entry in (manifest.get(key) or {}).items():
            if not isinstance(entry, dict):
                raise corrupt(path, f"{key}[{name!r}] should be an object")
    if not all(is_int(s) for s in manifest["seeds"]):
        raise corrupt(path, "'seeds' should be whole numbers")


def check_config_values(config: dict, path: Path) -> None:
    """The spec and layer values the report and verify use: refused here rather than crashed on later."""
    spec = config["compute"]["spec"]
    phases = spec["phases"]
    if not phases or not all(isinstance(p, dict) and is_number(p.get("lr")) and p["lr"] > 0
                             and is_int(p.get("epochs")) and p["epochs"] >= 1 for p in phases):
        raise corrupt(path, "compute.spec.phases must be a non-empty list of {lr > 0, epochs >= 1}")
    for key, check in (("batch_size", lambda v: is_int(v) and v >= 1),
                       ("weight_decay", lambda v: is_number(v) and v >= 0),
                       ("momentum", lambda v: is_number(v) and v >= 0),
                       ("backbone_lr_scale", lambda v: is_number(v) and v >= 0)):
        if key in spec and not check(spec[key]):
            raise corrupt(path, f"compute.spec.{key} = {spec[key]!r} is out of range")
    if spec["optimizer"] != "sgd" and spec.get("momentum", 0) != 0:
        # Only SGD uses momentum: a record that pairs it with another optimizer describes a setting never used.
        raise corrupt(path, f"compute.spec.momentum = {spec['momentum']!r} with optimizer {spec['optimizer']!r}, "
                            "which ignores it")
    compute = config["compute"]
    if "eval_batch_size" in compute and not (is_int(compute["eval_batch_size"]) and compute["eval_batch_size"] >= 1):
        raise corrupt(path, "compute.eval_batch_size must be a whole number >= 1")
    legal = {"precision": Precision.values(), "pipeline": Pipeline.values(),
             "device_type": tuple(d for d in Device.values() if d != Device.AUTO), "compile": CompileMode.values()}
    for key, choices in legal.items():
        if key in compute and compute[key] not in choices:
            raise corrupt(path, f"compute.{key} = {compute[key]!r}, expected one of: {', '.join(choices)}")
    for key, value in compute["model_kwargs"].items():
        if key in ("frozen_blocks", "image_size") and not is_int(value):
            raise corrupt(path, f"compute.model_kwargs.{key} should be a whole number")
    if not all(isinstance(row, dict) and is_int(row.get("params")) for row in config["layers"]):
        raise corrupt(path, "'layers' rows should be objects with whole-number params")
