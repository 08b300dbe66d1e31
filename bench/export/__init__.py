"""Export a run directory to experiment trackers: TensorBoard (`tensorboard.py`) and MLflow (`mlflow.py`).

Both exporters write one tracker run per model and seed (``<model>/seed-<n>``) holding the
per-epoch history (step = epoch), the test metrics, the configuration and the confusion matrix,
and tag it with the run directory's fingerprint (``manifest.json``), the model, the seed and the
seed's own fingerprint (``config.json``). Each exported run also carries an *export digest*: a
hash of everything it was made from (the seed's files, its training times, the exporter's
format). Exporting again compares digests: an equal one is skipped, a different one (the seed
was retrained, finished, or the report was rewritten) replaces the old tracker run, so
nothing is ever duplicated.

The trackers' libraries are optional extras (``pip install "bench[tensorboard]"`` and
``"bench[mlflow]"``), imported only inside the functions that write to them. This module holds
what both share and imports neither.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError

# Bump when what an exporter writes changes, so that a new bench re-exports instead of skipping.
EXPORT_FORMAT = 1

# history.csv column -> tracker metric name (per epoch, step = epoch).
EPOCH_METRICS = {
    "train_loss": "train/loss",
    "train_acc": "train/accuracy",
    "val_loss": "val/loss",
    "val_acc": "val/accuracy",
    "lr": "lr",
    "seconds": "time/epoch_seconds",
}
# metrics.json "test" field -> tracker metric name (step = last epoch).
TEST_METRICS = {
    "accuracy": "test/accuracy",
    "loss": "test/loss",
    "macro_precision": "test/macro_precision",
    "macro_recall": "test/macro_recall",
    "macro_f1": "test/macro_f1",
}
# The compute values shown as hyperparameters beside the training spec.
MAIN_COMPUTE = ("precision", "pipeline", "device_type", "compile", "deterministic", "channels_last",
                "eval_batch_size", "num_workers", "split_seed", "profile.name", "sizes.train", "sizes.val",
                "sizes.test", "weights_source")
# Files of a seed folder that go into an export (and so into its digest).
SEED_FILES = ("config.json", "history.csv", "metrics.json", "predictions.npz")
CONFUSION_TAG = "test/confusion_matrix"
CONFUSION_FILE = "confusion_matrix.png"


def install_hint(command: str, what: str, extra: str) -> BenchError:
    """The one line shown when an optional exporter library is missing."""
    return BenchError(f'bench export {command} needs {what}: pip install "bench[{extra}]"')


@dataclass
class ExportSummary:
    """What one export did, by ``<model>/seed-<n>`` label."""

    target: str                      # e.g. "TensorBoard logdir tb"
    view: str                        # a command that shows the result
    exported: list[str] = field(default_factory=list)   # new tracker runs
    updated: list[str] = field(default_factory=list)    # replaced tracker runs (the seed changed)
    skipped: list[str] = field(default_factory=list)    # unchanged since the last export

    def lines(self) -> list[str]:
        out = [f"{self.target}: {len(self.exported)} new, {len(self.updated)} updated, "
               f"{len(self.skipped)} unchanged (skipped)"]
        for name, labels in (("new", self.exported), ("updated", self.updated), ("skipped", self.skipped)):
            if labels:
                out.append(f"  {name}: {', '.join(labels)}")
        out.append(f"view with: {self.view}")
        return out


def label(run) -> str:
    return f"{run.model}/seed-{run.seed}"


def flat(record: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1, 'c': {}}} -> {'a.b': 1, 'a.c': {}}: nested objects flattened, lists and empty objects kept."""
    if not isinstance(record, dict) or (not record and prefix):
        return {prefix: record}
    out: dict[str, Any] = {}
    for key, value in record.items():
        out.update(flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def as_text(value: Any) -> str:
    """A config value as text: strings as they are, anything else as compact JSON (true, null, [1,2])."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def hparams(run) -> dict[str, bool | float | int | str]:
    """The hyperparameters of one seed: model, seed, the flattened training spec, the main compute values,
    the model's keyword arguments and parameter counts. Values are bool, int, float or str (lists as JSON)."""
    compute = run.config["compute"]
    flat_compute = flat(compute)
    out: dict[str, Any] = {"model": run.model, "seed": run.seed}
    out.update({f"spec.{k}": v for k, v in flat(compute["spec"]).items()})
    out.update({f"compute.{k}": flat_compute[k] for k in MAIN_COMPUTE if k in flat_compute})
    out.update({f"compute.model_kwargs.{k}": v for k, v in flat(compute.get("model_kwargs") or {}).items()})
    params = run.config.get("parameters", {})
    out.update({f"parameters.{k}": params[k] for k in ("total", "trainable", "frozen") if k in params})
    return {k: v if isinstance(v, (bool, int, float, str)) else as_text(v) for k, v in out.items()}


def test_metrics(run) -> dict[str, float]:
    """The test metrics a tracker shows ({} for a seed without them: incomplete or diverged)."""
    test = (run.metrics or {}).get("test") or {}
    return {name: float(test[key]) for key, name in TEST_METRICS.items() if isinstance(test.get(key), (int, float))}


def _parse_time(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def epoch_times(manifest: dict, run) -> tuple[float, list[float], float]:
    """(start, end of each epoch, end) in seconds since the epoch, from the manifest's start time and the
    history's epoch durations; the export time where the manifest does not record a start."""
    entry = manifest.get("models", {}).get(label(run), {}) if isinstance(manifest.get("models"), dict) else {}
    start = _parse_time(entry.get("started_at"))
    if start is None:
        start = datetime.now(timezone.utc).timestamp()
    ends, t = [], start
    for row in run.history:
        seconds = row.get("seconds")
        t += seconds if isinstance(seconds, float) and math.isfinite(seconds) and seconds > 0 else 0.0
        ends.append(t)
    end = _parse_time(entry.get("finished_at")) or t
    return start, ends, max(end, t)


def digest(artifacts, run, *, extra: Any = None, files: list[Path] = ()) -> str:
    """A hash of everything an export of `run` is made from: the seed's files, its manifest entry, the class
    names, the exporter's format and `extra` (what else the exporter writes), plus any `files` (report)."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": EXPORT_FORMAT, "fingerprint": artifacts.manifest["fingerprint"],
                         "config_fingerprint": run.config.get("fingerprint"),
                         "entry": artifacts.manifest.get("models", {}).get(label(run)),
                         "classes": artifacts.dataset.get("classes"), "extra": extra},
                        sort_keys=True, default=str).encode())
    for path in [run.path / name for name in SEED_FILES] + [Path(p) for p in files]:
        h.update(f"\0{path.name}\0".encode())
        if path.is_file():
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:32]


def confusion_png(run, classes: list[str]) -> bytes | None:
    """The seed's test confusion matrix (counts, with each true class's recall in % below) as PNG bytes;
    None without predictions."""
    if run.predictions is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from bench.results.metrics import confusion

    cm = np.asarray(confusion(run.predictions["labels"], run.predictions["predicted"], len(classes)))
    rows = cm.sum(1, keepdims=True)
    pct = 100 * np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    notes = np.array([[f"{c:d}\n{p:.0f}%" for c, p in zip(crow, prow)] for crow, prow in zip(cm, pct)])
    accuracy = np.trace(cm) / max(cm.sum(), 1)
    with plt.rc_context({"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"], "font.size": 8}):
        fig, ax = plt.subplots(figsize=(6.4, 5.6))
        sns.heatmap(pct, annot=notes, fmt="", cmap="Blues", vmin=0, vmax=100, cbar=False, ax=ax, square=True,
                    annot_kws={"size": 6.5}, xticklabels=classes, yticklabels=classes, linewidths=0.3,
                    linecolor="white")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.tick_params(axis="x", labelrotation=90, length=0)
        ax.tick_params(axis="y", labelrotation=0, length=0)
        ax.set_title(f"{run.config.get('title', run.model)}, seed {run.seed}: test confusion matrix "
                     f"(counts, % of true class); accuracy {100 * accuracy:.2f} %", fontsize=8.5)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
    return buf.getvalue()
