"""Wiring of a whole run: data, each model x seed, the manifest. The CLI calls these."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import ARTIFACT_FORMAT
from . import artifacts as art
from .data import Cifar10, Splits, describe, load_cifar10, make_splits
from .models import get_entry, resolve_vgg_weights
from .protocol import Profile, spec_for
from .train import RunOptions, device_name, fit, versions


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def prepare_data(data_dir: Path, profile: Profile, *, download: bool, verify: bool,
                 out: Path | None = None, grid_per_class: int = 10) -> tuple[Cifar10, Splits, dict]:
    """Load and split the data; with `out`, save dataset.json and the sample grid there."""
    data = load_cifar10(data_dir, download=download, verify=verify)
    splits = make_splits(data, limits=profile.limits)
    facts = describe(data, splits)
    if out is not None:
        from .plots import sample_grid_png

        art.write_json(Path(out) / art.DATASET, facts)
        art.write_bytes(Path(out) / art.SAMPLES,
                        sample_grid_png(data.train_images, data.train_labels, data.classes, per_class=grid_per_class))
    return data, splits, facts


def update_manifest(out: Path, **fields) -> dict:
    """Merge `fields` into manifest.json (creating it), keeping earlier models' entries."""
    path = Path(out) / art.MANIFEST
    manifest = art.read_json(path) if path.exists() else {}
    if manifest and manifest.get("artifact_format") != ARTIFACT_FORMAT:
        art.check_format(manifest, path)
    models = manifest.get("models", {})
    models.update(fields.pop("models", {}))
    manifest.update(fields, models=models, artifact_format=ARTIFACT_FORMAT)
    art.write_json(path, manifest)
    return manifest


def run_models(models: list[str], seeds: list[int], *, splits: Splits, facts: dict, profile: Profile,
               options: RunOptions, out: Path, vgg_weights: str | None, pretrained: bool, download: bool,
               frozen_blocks: int, image_size: int, epochs: int | None, force: bool, show_progress: bool,
               log, command: list[str]) -> dict:
    """Train every model for every seed, recording each in the manifest as it finishes."""
    for name in models:
        get_entry(name)  # fail on a bad name before any training starts
    update_manifest(out, command=command, versions=versions(), device=options.device,
                    device_name=device_name(options.device), git_commit=git_commit(),
                    data_checksums=facts["checksums"], profile=asdict(profile), seeds=seeds,
                    options=asdict(options))
    results = {}
    vgg_state = None
    for name in models:
        spec = spec_for(name, profile, epochs=epochs)
        kwargs, source = {}, ""
        if name == "vgg16":
            if vgg_state is None:
                vgg_state = resolve_vgg_weights(vgg_weights, pretrained=pretrained, download=download)
            kwargs = {"state_dict": vgg_state[0], "frozen_blocks": frozen_blocks, "image_size": image_size}
            source = vgg_state[1]
        for seed in seeds:
            t0 = time.perf_counter()
            metrics = fit(spec, splits, seed=seed, options=options, out_dir=art.seed_dir(out, name, seed),
                          model_kwargs=kwargs, weights_source=source, profile=asdict(profile),
                          data_facts=facts, force=force, show_progress=show_progress, log=log)
            results[(name, seed)] = metrics
            update_manifest(out, models={f"{name}/seed-{seed}": {
                "status": metrics["status"], "wall_seconds": time.perf_counter() - t0,
                "train_seconds": metrics.get("train_seconds"),
                "test_accuracy": metrics.get("test", {}).get("accuracy")}})
    return results


def command_line() -> list[str]:
    return ["bench", *sys.argv[1:]]
