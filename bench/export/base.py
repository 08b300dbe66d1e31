"""What both exporters share: the export record, the digest, THE new/update/skip plan, and the seed's values.

An export belongs to one run directory. Its *identity* (`run_identity`) is a digest of the
manifest's settings fingerprint and the time its first seed started training: two run directories
with the same settings (two trainings of one protocol) have different identities, while a copied or
moved run directory keeps its own. Every exported seed carries an `ExportRecord` (a marker file in
TensorBoard, tags in MLflow) keyed by (identity, model, seed), and `plan_exports` decides from the
records a tracker already holds what to do with each seed:

- none held: ``new`` (written beside whatever other run directories exported there);
- exactly one held, with the same export digest: ``skip`` (re-exporting is idempotent);
- otherwise (the seed changed, or an earlier export was cut short or duplicated): ``update``, which
  replaces only the held exports of this very run directory's seed.

Records of another identity (another run directory, or an export by a bench before identities)
are never in the plan, so no export ever deletes or overwrites them. The exporters only write what
the plan says. The trackers' libraries are optional extras, imported inside the exporters only.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.rundir.checks import fingerprint, flatten
from bench.rundir.layout import run_key
from bench.rundir.rundir import Artifacts, SeedRun

# Bump when what an exporter writes changes, so that a new bench re-exports instead of skipping.
# 2: records carry the run directory's identity (exports of other run directories are left alone).
EXPORT_FORMAT = 2

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
ACTIONS = ("new", "update", "skip")


def install_hint(command: str, what: str, extra: str) -> BenchError:
    """The one line shown when an optional exporter library is missing."""
    return BenchError(f'bench export {command} needs {what}: pip install "bench[{extra}]"')


def label(run: SeedRun) -> str:
    """'mlp/seed-0': how a seed is named in trackers and in the summary (the run directory's one key)."""
    return run_key(run.model, run.seed)


def run_identity(manifest: dict) -> str:
    """The identity of a run directory: its settings fingerprint plus when its first seed started.

    The fingerprint alone names a protocol, not a run (two trainings of one protocol share it); the
    start time tells them apart and, unlike the path, survives copying or moving the directory. A
    directory retrained from scratch (its first seed retrained with --force) gets a new identity, so its
    export is added beside the old one rather than overwriting it.
    """
    return fingerprint({"fingerprint": manifest["fingerprint"], "started_at": manifest.get("started_at")})


@dataclass(frozen=True)
class ExportRecord:
    """What bench writes beside each exported seed, and reads back to plan the next export."""

    identity: str                   # run_identity of the run directory: whose export this is
    fingerprint: str                # the run directory's settings fingerprint (manifest.json)
    model: str                      # model name, as in <model>/seed-<n>
    seed: int                       # seed number
    config_fingerprint: str         # the seed's own fingerprint (config.json)
    digest: str | None              # export_digest of what was written; None: an export cut short
    run_dir: str                    # where the run directory was when exported (shown, never compared)

    @property
    def key(self) -> tuple[str, str, int]:
        """What an export is matched by: the run directory's identity, the model and the seed."""
        return self.identity, self.model, self.seed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ExportRecord | None:
        """The record a tracker holds, or None when it is not one of ours (another tool's, or an export
        written before run directories had identities: both are left alone)."""
        if not isinstance(data, Mapping):
            return None
        identity, model, seed = data.get("identity"), data.get("model"), data.get("seed")
        if not (isinstance(identity, str) and identity and isinstance(model, str) and model):
            return None
        if isinstance(seed, str) and seed.isdigit():
            seed = int(seed)
        if not isinstance(seed, int) or isinstance(seed, bool):
            return None
        digest = data.get("digest")
        return cls(identity=identity, fingerprint=str(data.get("fingerprint", "")), model=model, seed=seed,
                   config_fingerprint=str(data.get("config_fingerprint", "")),
                   digest=digest if isinstance(digest, str) and digest else None,
                   run_dir=str(data.get("run_dir", "")))


def record_for(artifacts: Artifacts, run: SeedRun, digest: str) -> ExportRecord:
    """The record an export of `run` carries."""
    return ExportRecord(identity=run_identity(artifacts.manifest), fingerprint=artifacts.manifest["fingerprint"],
                        model=run.model, seed=run.seed, config_fingerprint=str(run.config.get("fingerprint", "")),
                        digest=digest, run_dir=str(Path(artifacts.root).resolve()))


@dataclass
class PlanStep:
    """What to do with one seed, and which of the tracker's earlier exports of it an update replaces."""

    run: SeedRun                    # the seed to export
    record: ExportRecord            # the record its export carries
    action: str                     # "new" | "update" | "skip" (ACTIONS)
    replaces: list[Any] = field(default_factory=list)  # the tracker's handles (folder, run id) of held exports


def plan_exports(wanted: Iterable[tuple[SeedRun, ExportRecord]],
                 held: Iterable[tuple[ExportRecord, Any]]) -> list[PlanStep]:
    """THE new/update/skip decision, for every exporter: `wanted` pairs each seed with the record its export
    would carry; `held` lists the records the tracker already holds, each with the tracker's handle for it.
    Only held records with the same (identity, model, seed) count: another run directory's are never touched."""
    by_key: dict[tuple[str, str, int], list[tuple[ExportRecord, Any]]] = {}
    for record, handle in held:
        by_key.setdefault(record.key, []).append((record, handle))
    plan = []
    for run, record in wanted:
        old = by_key.get(record.key, [])
        if not old:
            action = "new"
        elif len(old) == 1 and old[0][0].digest == record.digest:
            action = "skip"
        else:
            action = "update"
        plan.append(PlanStep(run, record, action, [] if action == "skip" else [handle for _, handle in old]))
    return plan


@dataclass
class ExportSummary:
    """What one export did, by ``<model>/seed-<n>`` label."""

    target: str                      # e.g. "TensorBoard logdir tb"
    view: str                        # a command that shows the result
    exported: list[str] = field(default_factory=list)   # new tracker runs
    updated: list[str] = field(default_factory=list)    # replaced tracker runs (the seed changed)
    skipped: list[str] = field(default_factory=list)    # unchanged since the last export

    def add(self, step: PlanStep) -> None:
        {"new": self.exported, "update": self.updated, "skip": self.skipped}[step.action].append(label(step.run))

    def lines(self) -> list[str]:
        out = [f"{self.target}: {len(self.exported)} new, {len(self.updated)} updated, "
               f"{len(self.skipped)} unchanged (skipped)"]
        for name, labels in (("new", self.exported), ("updated", self.updated), ("skipped", self.skipped)):
            if labels:
                out.append(f"  {name}: {', '.join(labels)}")
        out.append(f"view with: {self.view}")
        return out


def as_text(value: Any) -> str:
    """A config value as text: strings as they are, anything else as compact JSON (true, null, [1,2])."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def hparams(run: SeedRun) -> dict[str, bool | float | int | str]:
    """The hyperparameters of one seed: model, seed, the flattened training spec, the main compute values,
    the model's keyword arguments and parameter counts. Values are bool, int, float or str (lists as JSON)."""
    compute = run.config["compute"]
    flat_compute = flatten(compute)
    out: dict[str, Any] = {"model": run.model, "seed": run.seed}
    out.update({f"spec.{k}": v for k, v in flatten(compute["spec"]).items()})
    out.update({f"compute.{k}": flat_compute[k] for k in MAIN_COMPUTE if k in flat_compute})
    out.update({f"compute.model_kwargs.{k}": v for k, v in flatten(compute.get("model_kwargs") or {}).items()})
    params = run.config.get("parameters", {})
    out.update({f"parameters.{k}": params[k] for k in ("total", "trainable", "frozen") if k in params})
    return {k: v if isinstance(v, (bool, int, float, str)) else as_text(v) for k, v in out.items()}


def test_metrics(run: SeedRun) -> dict[str, float]:
    """The test metrics a tracker shows ({} for a seed without them: incomplete or diverged)."""
    test = (run.metrics or {}).get("test") or {}
    return {name: float(test[key]) for key, name in TEST_METRICS.items() if isinstance(test.get(key), (int, float))}



def parse_time(text: Any) -> float | None:
    """An ISO time from the manifest as seconds since the epoch (UTC when no zone); None if absent or bad."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def epoch_times(manifest: dict, run: SeedRun) -> tuple[float, list[float], float]:
    """(start, end of each epoch, end) in seconds since the epoch, from the manifest's start time and the
    history's epoch durations; the export time where the manifest does not record a start."""
    entry = manifest.get("models", {}).get(label(run), {}) if isinstance(manifest.get("models"), dict) else {}
    start = parse_time(entry.get("started_at"))
    if start is None:
        start = datetime.now(timezone.utc).timestamp()
    ends, t = [], start
    for row in run.history:
        seconds = row.get("seconds")
        t += seconds if isinstance(seconds, float) and math.isfinite(seconds) and seconds > 0 else 0.0
        ends.append(t)
    end = parse_time(entry.get("finished_at")) or t
    return start, ends, max(end, t)


def export_digest(artifacts: Artifacts, run: SeedRun, *, extra: Any = None, files: Iterable[Path] = ()) -> str:
    """A hash of everything an export of `run` is made from: the seed's files, its manifest entry, the class
    names, the run directory's identity, the exporter's format and `extra` (what else the exporter writes),
    plus any `files` (the report). Equal digests mean the tracker already shows exactly this."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": EXPORT_FORMAT, "identity": run_identity(artifacts.manifest),
                         "fingerprint": artifacts.manifest["fingerprint"],
                         "config_fingerprint": run.config.get("fingerprint"),
                         "entry": artifacts.manifest.get("models", {}).get(label(run)),
                         "classes": artifacts.dataset.get("classes"), "extra": extra},
                        sort_keys=True, default=str).encode())
    for path in [run.path / name for name in SEED_FILES] + [Path(p) for p in files]:
        h.update(f"\0{path.name}\0".encode())
        if path.is_file():
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:32]


def confusion_png(run: SeedRun, classes: list[str]) -> bytes | None:
    """The seed's test confusion matrix (counts, with each true class's recall in % below) as PNG bytes for a
    tracker's image viewer; None without predictions.

    The report draws its own (bench.render.plots.confusion_figure: localised, two panels, SVG sized for the
    page); render and export sit on one floor and may not import each other, so this one-panel English PNG
    is the exports' only picture, and its numbers come from the one home of metrics (bench.results.metrics).
    """
    if run.predictions is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns

    from bench.results.metrics import confusion

    labels, predicted = run.predictions["labels"], run.predictions["predicted"]
    cm = np.asarray(confusion(labels, predicted, len(classes)))
    pct = 100 * np.asarray(confusion(labels, predicted, len(classes), normalize="true"))
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
