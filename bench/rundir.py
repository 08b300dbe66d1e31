"""One run directory: what it holds, how it is loaded and checked, and who may write it.

A run directory (``--artifacts``) holds one comparable study: every member shares the
directory's fingerprint (data, profile, device type, precision, threads, versions) and all
seeds of a model share that model's protocol fingerprint. The report, verify and training
go through this module to read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import artifacts as art
from .errors import BenchError
from .protocol import STUDY

MODEL_ORDER = list(STUDY)


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


def load_artifacts(root: Path) -> Artifacts:
    root = Path(root)
    if not root.exists():
        raise BenchError(f"artifacts directory {root} does not exist; run `bench all` or `bench train` first")
    if not root.is_dir():
        raise BenchError(f"{root} is not a directory")
    manifest_path = root / art.MANIFEST
    if not manifest_path.exists():
        raise BenchError(f"{root} is not a bench artifacts directory (no {art.MANIFEST}); "
                         "run `bench all` or `bench train` into it first")
    manifest = art.read_json(manifest_path)
    art.check_format(manifest, manifest_path)
    dataset = art.read_json(root / art.DATASET)
    samples = (root / art.SAMPLES).read_bytes() if (root / art.SAMPLES).exists() else None
    runs = []
    for model, seed, path in art.list_runs(root):
        config = art.read_json(path / art.CONFIG)
        art.check_format(config, path / art.CONFIG)
        history = art.read_history(path / art.HISTORY) if (path / art.HISTORY).exists() else []
        run = SeedRun(model, seed, path, config, history, "incomplete")
        if (path / art.METRICS).exists():
            run.metrics = art.read_json(path / art.METRICS)
            run.status = run.metrics.get("status", "incomplete")
            if run.status == "complete":
                run.predictions = art.read_predictions(path / art.PREDICTIONS)
        runs.append(run)
    if not runs:
        raise BenchError(f"{root} holds no trained model (no <model>/seed-<n>/config.json)")
    return Artifacts(root, manifest, dataset, samples, runs)
