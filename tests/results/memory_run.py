"""A run directory's contents built in memory (bench.rundir.rundir.Artifacts), from numpy arrays: no training.

`memory_artifacts(...)` gives what load_artifacts would return for a small smoke run of the built-in
models (and, on request, a plugged-in model with a pretrained backbone), with predictions whose
accuracies are chosen, so that analysis and rendering are tested in milliseconds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from bench.protocol import get_profile, spec_for
from bench.rundir.rundir import Artifacts, SeedRun

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TITLES = {"mlp": "MLP", "cnn": "CNN", "cnn_bn": "CNN + BN + Dropout"}
SIZES = {"train": 2000, "val": 500, "test": 1000}
# A plugged-in transfer model: found by its recorded structure, never by its name.
TRANSFER = "resnet_tl"


def predictions(labels: np.ndarray, accuracy: float, seed: int) -> dict:
    """Logits whose argmax is right on the first `accuracy` share of a random order of the images."""
    rng = np.random.default_rng(seed)
    n, k = len(labels), len(CLASSES)
    right = np.zeros(n, bool)
    right[rng.permutation(n)[: int(round(accuracy * n))]] = True
    wrong = (labels + rng.integers(1, k, n)) % k
    predicted = np.where(right, labels, wrong)
    logits = rng.normal(0.0, 1.0, (n, k)).astype(np.float32)
    logits[np.arange(n), predicted] += 8.0  # decisive: the argmax is `predicted`
    return {"labels": labels, "logits": logits, "predicted": logits.argmax(1)}


def config(model: str, *, title: str | None = None, structure: dict | None = None) -> dict:
    profile = get_profile("smoke")
    spec = spec_for("cnn" if model == TRANSFER else model, profile).to_dict() | {"model": model}
    cfg = {"model": model, "title": title or TITLES.get(model, model), "description": f"{model} for the tests",
           "parameters": {"total": 1000, "trainable": 800 if structure else 1000, "frozen": 200 if structure else 0},
           "layers": [{"layer": "Linear 3072→10", "name": "0", "params": 30730, "trainable": True}],
           "compute": {"spec": spec, "model_kwargs": {}, "profile": dataclasses.asdict(profile), "sizes": dict(SIZES),
                       "pipeline": "fast", "precision": "fp32", "weights_source": "", "split_seed": 43}}
    if structure is not None:
        cfg["structure"] = structure
        cfg["compute"]["weights_source"] = "file pretrained.pth" if structure["pretrained_backbone"] else \
            "none (random initialisation, --no-pretrained)"
        cfg["compute"]["weights_sha256"] = "ab" * 32
    return cfg


def history(epochs: int) -> list[dict]:
    return [{"epoch": e, "phase": 1, "lr": 0.1, "train_loss": 2.0 - 0.1 * e, "train_acc": 0.2 + 0.02 * e,
             "val_loss": 2.1 - 0.1 * e, "val_acc": 0.2 + 0.015 * e, "seconds": 0.5} for e in range(1, epochs + 1)]


def memory_artifacts(root: Path, accuracies: dict[str, list[float]], *, test: int = SIZES["test"],
                     label_seed: int = 0, transfer: dict | None = None, statuses: dict | None = None) -> Artifacts:
    """Artifacts of `accuracies` ({model: [accuracy of seed 0, of seed 1, ...]}) on `test` images.

    `transfer`: the structure of a plugged-in model with a pretrained backbone, trained when its accuracies
    are given under TRANSFER. `statuses`: {(model, seed): "diverged" | "incomplete"} for runs without results.
    """
    labels = np.random.default_rng(label_seed).integers(0, len(CLASSES), test)
    statuses = statuses or {}
    runs, entries = [], {}
    for model, accs in accuracies.items():
        cfg = config(model, structure=transfer if model == TRANSFER else None)
        for seed, acc in enumerate(accs):
            status = statuses.get((model, seed), "complete")
            done = status == "complete"
            runs.append(SeedRun(model=model, seed=seed, path=root / model / f"seed-{seed}", config=cfg | {},
                                history=history(4), status=status,
                                metrics={"train_seconds": 1.5} if done else None,
                                predictions=predictions(labels, acc, 100 * seed + len(model)) if done else None))
            entries[f"{model}/seed-{seed}"] = {
                "command": ["bench", "train", model], "status": status, "wall_seconds": 2.0, "train_seconds": 1.5,
                "started_at": "2025-03-04T10:00:00+00:00", "finished_at": "2025-03-04T10:00:02+00:00"}
    manifest = {"directory": {"profile": {"name": "smoke"}, "data": {"test": "t"}, "device_type": "cpu",
                              "precision": "fp32", "torch_threads": 2, "versions": {"torch": "2.0"}},
                "device_name": "cpu", "git_commit": None, "executor": {"name": "local"}, "options": {},
                "models": entries, "finished_at": "2025-03-04T10:00:02+00:00", "versions": {"torch": "2.0"}}
    dataset = {"classes": list(CLASSES),
               "shapes": {"train": [SIZES["train"], 32, 32, 3], "val": [SIZES["val"], 32, 32, 3],
                          "test": [test, 32, 32, 3]},
               "digests": {"test": f"digest-{test}-{label_seed}"}, "test_labels_sha256": f"labels-{label_seed}",
               "augmentation": {"random_crop": 32, "padding": 4, "hflip_p": 0.5}, "checksums": {},
               "normalisation": {"mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}, "split_seed": 43}
    return Artifacts(root=root, manifest=manifest, dataset=dataset, samples_png=None, runs=runs)
