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
    """The commit of the code that ran: the package's checkout, else the working directory's."""
    for where in (Path(__file__).resolve().parent, Path.cwd()):
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=where)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return None


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
    if manifest:
        art.check_format(manifest, path)
    models = manifest.get("models", {})
    models.update(fields.pop("models", {}))
    manifest.update(fields, models=models, artifact_format=ARTIFACT_FORMAT)
    art.write_json(path, manifest)
    return manifest


def run_models(models: list[str], seeds: list[int], *, splits: Splits, facts: dict, profile: Profile,
               options: RunOptions, out: Path, vgg: tuple[dict | None, str] | None, frozen_blocks: int,
               image_size: int, epochs: int | None, force: bool, show_progress: bool, log,
               command: list[str]) -> dict:
    """Train every model for every seed, recording each in the manifest as it finishes.

    `vgg` is (state_dict or None, source description) from `resolve_vgg_weights`, resolved by
    the caller before anything is written, so that a bad weights file costs no artifact.
    """
    for name in models:
        get_entry(name)  # fail on a bad name before any training starts
    if "vgg16" in models and vgg is None:
        raise ValueError("run_models needs the resolved VGG16 weights to train vgg16")
    update_manifest(out, command=command, versions=versions(), device=options.device,
                    device_name=device_name(options.device), git_commit=git_commit(),
                    data_checksums=facts["checksums"], profile=asdict(profile), seeds=seeds,
                    options=asdict(options))
    results = {}
    for name in models:
        spec = spec_for(name, profile, epochs=epochs)
        kwargs, source = {}, ""
        if name == "vgg16":
            kwargs = {"state_dict": vgg[0], "frozen_blocks": frozen_blocks, "image_size": image_size}
            source = vgg[1]
        for seed in seeds:
            t0 = time.perf_counter()
            metrics = fit(spec, splits, seed=seed, options=options, out_dir=art.seed_dir(out, name, seed),
                          model_kwargs=kwargs, weights_source=source, profile=asdict(profile),
                          data_facts=facts, force=force, show_progress=show_progress, log=log)
            results[(name, seed)] = metrics
            update_manifest(out, models={f"{name}/seed-{seed}": {
                "status": metrics["status"], "wall_seconds": time.perf_counter() - t0, "command": command,
                "train_seconds": metrics.get("train_seconds"),
                "test_accuracy": metrics.get("test", {}).get("accuracy")}})
    return results


def command_line() -> list[str]:
    return ["bench", *sys.argv[1:]]


def spec_from_config(config: dict):
    from .protocol import Phase, TrainSpec

    d = dict(config["compute"]["spec"])
    d.pop("epochs", None)
    d["phases"] = tuple(Phase(**p) for p in d["phases"])
    return TrainSpec(**d)


def verify_run(run_dir: Path, *, data_dir: Path, device: str | None, vgg_weights: str | None, download: bool,
               models: list[str] | None = None, log=None) -> list[dict]:
    """Re-run every recorded model/seed from its config.json and compare with the saved results.

    Returns one row per run: whether predictions and history are bitwise equal, else the largest differences.
    """
    import tempfile

    from .errors import BenchError
    from .protocol import Profile

    log = log or (lambda msg: None)
    run_dir = Path(run_dir)
    manifest_path = run_dir / art.MANIFEST
    if not manifest_path.exists():
        raise BenchError(f"{run_dir} is not a bench artifacts directory (no {art.MANIFEST})")
    art.check_format(art.read_json(manifest_path), manifest_path)
    runs = [r for r in art.list_runs(run_dir) if models is None or r[0] in models]
    if not runs:
        raise BenchError(f"{run_dir} holds no trained model to verify")
    rows, prepared = [], {}
    recorded = art.read_json(run_dir / art.DATASET)
    # Check the pixels only if the recorded run did.
    check_pixels = recorded["checksums"]["train"]["ok"] is not None
    for model, seed, path in runs:
        config = art.read_json(path / art.CONFIG)
        art.check_format(config, path / art.CONFIG)
        if not (path / art.METRICS).exists():
            rows.append({"model": model, "seed": seed, "status": "unfinished, not verified"})
            continue
        compute = config["compute"]
        profile = Profile(**compute["profile"])
        if profile.name not in prepared:
            prepared[profile.name] = prepare_data(data_dir, profile, download=download, verify=check_pixels)
        _, splits, facts = prepared[profile.name]
        if facts["normalisation"] != compute["normalisation"]:
            raise BenchError(f"the data in {data_dir} differs from the recorded run (normalisation statistics)")
        options = RunOptions(device=device or compute["device_type"], precision=compute["precision"],
                             pipeline=compute["pipeline"], num_workers=compute["num_workers"] or 2,
                             deterministic=compute["deterministic"], channels_last=compute["channels_last"],
                             eval_batch_size=config["eval_batch_size"], compile=compute.get("compile", "none"))
        kwargs = dict(compute["model_kwargs"])
        if model == "vgg16":
            pretrained = not compute["weights_source"].startswith("none")
            kwargs["state_dict"] = resolve_vgg_weights(vgg_weights, pretrained=pretrained, download=download)[0]
        log(f"verifying {model} seed {seed} ...")
        with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
            metrics = fit(spec_from_config(config), splits, seed=seed, options=options, out_dir=Path(tmp),
                          model_kwargs=kwargs, weights_source=compute["weights_source"],
                          profile=compute["profile"], data_facts=facts)
            new_hist = art.read_history(Path(tmp) / art.HISTORY)
            new_pred = art.read_predictions(Path(tmp) / art.PREDICTIONS) if metrics["status"] == "complete" else None
        old_hist = art.read_history(path / art.HISTORY)
        old_pred = art.read_predictions(path / art.PREDICTIONS) if (path / art.PREDICTIONS).exists() else None
        keys = [k for k in art.HISTORY_FIELDS if k != "seconds"]
        old_h, new_h = (np.array([[r[k] for k in keys] for r in h], dtype=float) for h in (old_hist, new_hist))
        old_l, new_l = (p["logits"] if p is not None else np.empty((0, 0)) for p in (old_pred, new_pred))
        same, diffs = True, []
        for a, b in ((old_h, new_h), (old_l, new_l)):
            # equal_nan: a run that diverged identically twice is identical, not "different".
            equal = a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
            same &= equal
            diffs.append(0.0 if equal else float(np.nanmax(np.abs(a - b), initial=0.0))
                         if a.shape == b.shape else float("inf"))
        hist_diff, logit_diff = diffs
        rows.append({"model": model, "seed": seed, "status": "identical" if same else "different",
                     "max_logit_diff": logit_diff, "max_history_diff": hist_diff})
    return rows
