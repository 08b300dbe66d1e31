"""The data a run trains on: loaded, checked and split once by the driver, and described in the run directory."""

from __future__ import annotations

from pathlib import Path

from bench.data.cifar10 import Cifar10, describe_splits, load_cifar10
from bench.data.pipelines import Splits, make_splits
from bench.data.samples import sample_grid_png
from bench.errors import BenchError
from bench.protocol import Profile
from bench.rundir import layout as art


def prepare_data(data_dir: Path, profile: Profile, *, download: bool, verify: bool) -> tuple[Cifar10, Splits, dict]:
    """Load, check and split the data, and describe it as dataset.json will; writes nothing."""
    data = load_cifar10(data_dir, download=download, verify=verify)
    splits = make_splits(data, limits=profile.limits)
    return data, splits, describe_splits(data, splits)


def recorded_checksums(old: dict, new: dict) -> dict:
    """The checksum verdicts to record: a split checked now keeps its new verdict; a split loaded without
    verification (--no-verify: ok is None) keeps the verdict a stronger earlier check recorded, so a later,
    weaker command never downgrades what the run directory already knows."""
    merged = dict(new)
    for split, entry in new.items():
        before = old.get(split) if isinstance(old, dict) else None
        if isinstance(entry, dict) and entry.get("ok") is None and isinstance(before, dict) \
                and before.get("ok") is not None:
            merged[split] = before
    return merged


def write_data_artifacts(out: Path, data: Cifar10 | None, facts: dict, *, grid_per_class: int = 10) -> dict:
    """dataset.json and (given the raw data) the sample grid; an existing dataset.json must describe the same
    data, and its checksum verdicts are never downgraded (`recorded_checksums`). The caller holds the run
    directory's lock. Returns the facts as recorded."""
    out = Path(out)
    path = out / art.DATASET
    if path.exists():
        old = art.read_json(path)
        if old.get("digests") != facts["digests"]:
            raise BenchError(f"{path} describes other data (another profile or data files); "
                             "choose another --artifacts directory")
        facts = {**facts, "checksums": recorded_checksums(old.get("checksums") or {}, facts["checksums"])}
    art.write_json(path, facts)
    if data is not None:  # splits given directly (tests, verify) have no raw data for the grid
        art.write_bytes(out / art.SAMPLES,
                        sample_grid_png(data.train_images, data.train_labels, data.classes, per_class=grid_per_class))
    return facts
