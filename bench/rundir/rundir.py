"""One run directory: a `RunDir` owns its lock, its manifest, who may join it, and loading it whole.

A run directory (``--artifacts``) holds one comparable study. Two fingerprints decide
membership (bench.rundir.checks.fingerprint):

- the directory's (``manifest.json``: ``directory`` and ``fingerprint``): what every member
  shares: profile, the data actually used (digests of each split, so the test set's
  identity), device type, precision, thread count and software versions;
- each model's protocol (``config.json``: ``protocol_fingerprint``): every value of its
  ``compute`` record except the seed, shared by all seeds of that model.

Training checks both before it writes anything (`RunDir.check_joinable`), under a lock that one
process holds at a time (`RunDir.lock`, bench.rundir.lock); the report and `verify` load a directory
through `load_artifacts` (`RunDir.load`), which refuses a directory that mixes runs and names the
files that disagree. File names, keys and atomic writes are bench.rundir.layout's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import ARTIFACT_FORMAT
from bench.errors import BenchError
from bench.protocol import STUDY
from bench.rundir import layout as art
from bench.rundir.checks import (CONFIG_FIELDS, DATASET_FIELDS, MANIFEST_FIELDS, METRICS_FIELDS, STATUSES,
                                 check_config_values, check_dataset_values, check_manifest_values, corrupt,
                                 differences, fingerprint, is_number, protocol_of)
from bench.rundir.lock import RunLock

MODEL_ORDER = list(STUDY)


def now_iso() -> str:
    """The manifest's timestamps: UTC, to the millisecond."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def merged_protocol(old: dict, new: dict | None) -> dict:
    """manifest["protocol"]: each model's intended spec and reference, from whichever command trained it."""
    if new is None:
        return old
    sources = [s for s in old.get("sources", []) if s != new["source"]] + [new["source"]]
    return {"sources": sources, "study": new["study"], "specs": {**old.get("specs", {}), **new["specs"]},
            "reference": {**old.get("reference", {}), **new["reference"]}}


class RunDir:
    """A run directory as the training driver sees it: the only writer of its manifest.

    Every method that writes expects the caller to hold `lock()`; the jobs' own files are written
    by the engine into `seed_dir(...)` folders.
    """

    def __init__(self, root: Path):
        self.root = Path(root)  # the --artifacts folder

    def lock(self) -> RunLock:
        """The directory's exclusive lock, as a context manager."""
        return RunLock(self.root)

    def seed_dir(self, model: str, seed: int) -> Path:
        return art.seed_dir(self.root, model, seed)

    # -- the manifest ------------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.root / art.MANIFEST

    def manifest(self) -> dict:
        """The manifest as written so far ({} before the first training), format-checked."""
        if not self.manifest_path.exists():
            return {}
        manifest = art.read_json(self.manifest_path)
        art.check_format(manifest, self.manifest_path)
        return manifest

    def entry(self, key: str) -> dict:
        """One job's manifest entry (`key` from layout.run_key), {} when it has none yet."""
        return (self.manifest().get("models") or {}).get(key, {})

    def update_manifest(self, *, reset: bool = False, models: dict | None = None, **fields) -> dict:
        """Merge `fields` and per-job `models` entries (keyed by layout.run_key) into manifest.json.

        Seeds, start and finish times and `train_wall_seconds` are derived from the job entries,
        so runs added by separate commands are all counted.
        """
        manifest = {} if reset else self.manifest()
        entries = dict(manifest.get("models", {}))
        for key, entry in (models or {}).items():
            entries[key] = {**entries.get(key, {}), **entry}
        manifest.update(fields, models=entries, artifact_format=ARTIFACT_FORMAT)
        manifest["seeds"] = sorted({art.parse_run_key(key)[1] for key in entries})
        starts = [e["started_at"] for e in entries.values() if e.get("started_at")]
        ends = [e["finished_at"] for e in entries.values() if e.get("finished_at")]
        manifest["started_at"] = min(starts) if starts else None
        manifest["finished_at"] = max(ends) if ends else None
        manifest["train_wall_seconds"] = ((dt.datetime.fromisoformat(max(ends))
                                           - dt.datetime.fromisoformat(min(starts))).total_seconds()
                                          if starts and ends else None)
        art.write_json(self.manifest_path, manifest)
        return manifest

    def mark_started(self, key: str, *, command: list[str], started_at: str | None, where: dict | None) -> None:
        """A job began (or resumed: `started_at` is then its first start, kept)."""
        self.update_manifest(models={key: {"status": "running", "command": command, "error": None,
                                           "started_at": started_at or now_iso(), "finished_at": None,
                                           **({"ran_on": where} if where else {})}})

    def mark_finished(self, key: str, metrics: dict, *, wall_seconds: float, command: list[str],
                      where: dict | None) -> None:
        """A job ended complete or diverged; `wall_seconds` counts every attempt's time."""
        self.update_manifest(models={key: {
            "status": metrics["status"], "wall_seconds": wall_seconds, "command": command,
            "finished_at": now_iso(), "train_seconds": metrics.get("train_seconds"),
            "test_accuracy": metrics.get("test", {}).get("accuracy"), **({"ran_on": where} if where else {})}})

    def mark_failed(self, key: str, error: str, *, where: dict | None) -> None:
        self.update_manifest(models={key: {"status": "failed", "error": error, "finished_at": None,
                                           **({"ran_on": where} if where else {})}})

    def mark_stopped(self, key: str, *, wall_seconds: float) -> None:
        """Interrupted: its time so far is kept, so that a resumed run adds to it."""
        self.update_manifest(models={key: {"status": "interrupted", "wall_seconds": wall_seconds}})

    # -- membership --------------------------------------------------------------------------------

    def check_joinable(self, *, directory: dict, protocols: dict[str, dict], force: bool) -> list[Path]:
        """See `check_joinable`."""
        return check_joinable(self.root, directory=directory, protocols=protocols, force=force)

    def load(self) -> "Artifacts":
        """See `load_artifacts`."""
        return load_artifacts(self.root)


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
                diff = differences(protocol_of(first.config), protocol_of(other.config))
                raise BenchError(f"{root} mixes protocols for {model}: {first.path / art.CONFIG} and "
                                 f"{other.path / art.CONFIG} differ ({diff}); seeds of one model must share its "
                                 "protocol: retrain with --force or use separate --artifacts directories")


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
                             f"({differences(protocol_of(m.config), new)}); all seeds of a model share one: "
                             f"use another --artifacts directory, or --force to retrain every seed of {m.model}")
        discard.append(m.path)
    return discard

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
    art.check_tree(root)  # before any read: no link or special file may lead a reader outside
    manifest = read_manifest(root)
    check_manifest_values(manifest, root / art.MANIFEST)
    dataset = art.read_json(root / art.DATASET, required=DATASET_FIELDS)
    check_dataset_values(dataset, root / art.DATASET)
    classes = dataset["classes"]
    n_test = dataset["shapes"]["test"][0]
    if dataset["digests"] != manifest["directory"].get("data"):
        raise BenchError(f"{root / art.DATASET} describes other data than {root / art.MANIFEST} records; "
                         "the directory is damaged or mixed: train into a new --artifacts directory")
    samples = None
    if (root / art.SAMPLES).exists():
        with art.open_regular(root / art.SAMPLES) as fh:
            samples = fh.read()
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
                if metrics.get(key) is not None and not is_number(metrics[key]):
                    raise corrupt(metrics_path, f"{key!r} should be a number")
            if metrics["fingerprint"] != m.config["fingerprint"]:
                raise BenchError(f"{metrics_path} does not belong to {m.path / art.CONFIG} (other fingerprint); "
                                 f"retrain {m.model} seed {m.seed} with --force")
            if not (m.path / art.HISTORY).exists():
                raise BenchError(f"{metrics_path} records a finished run, but {m.path / art.HISTORY} is missing; "
                                 f"{DAMAGED_HINT}")
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
                check_predictions_match(run, pred_path, metrics_path)
        runs.append(run)
    check_recorded_jobs(manifest, runs, root)
    return Artifacts(root, manifest, dataset, samples, runs)


# What `--force` or a retrain of that seed would fix, said at the end of every cross-check refusal.
DAMAGED_HINT = "the run directory is damaged (files deleted, swapped or edited); restore the files or retrain " \
               "that seed with --force"


def check_predictions_match(run: SeedRun, pred_path: Path, metrics_path: Path) -> None:
    """A complete seed's predictions must be the ones its own metrics.json recorded: the same file (its SHA-256,
    recorded since artifact runs write it) and the same accuracy, so a file swapped in from another seed or run
    is refused, never reported under this seed's name."""
    metrics, preds = run.metrics or {}, run.predictions or {}
    if metrics.get("model") != run.model or metrics.get("seed") != run.seed:
        raise BenchError(f"{metrics_path} records {metrics.get('model')} seed {metrics.get('seed')}, but lies in "
                         f"{art.run_key(run.model, run.seed)}; {DAMAGED_HINT}")
    recorded = metrics.get("predictions_sha256")
    if recorded is not None and recorded != art.sha256_file(pred_path):
        raise BenchError(f"{pred_path} is not the predictions file {metrics_path} recorded (other SHA-256); "
                         f"{DAMAGED_HINT}")
    n = len(preds["labels"])
    accuracy = float(np.mean(preds["predicted"] == preds["labels"])) if n else 0.0
    if abs(accuracy - metrics["test"]["accuracy"]) > 0.5 / max(n, 1):
        raise BenchError(f"{pred_path} gives {run.model} seed {run.seed} a test accuracy of {accuracy:.4f}, but "
                         f"{metrics_path} records {metrics['test']['accuracy']:.4f}; {DAMAGED_HINT}")


def check_recorded_jobs(manifest: dict, runs: list[SeedRun], root: Path) -> None:
    """Every job the manifest records as finished is present with all its files and the same result: a seed is
    never dropped from a report silently because its folder or a file of it was deleted."""
    by_key = {art.run_key(r.model, r.seed): r for r in runs}
    for key, entry in sorted((manifest.get("models") or {}).items()):
        status = entry.get("status")
        if status not in STATUSES:
            continue  # running, interrupted or failed: nothing was promised
        model, seed = art.parse_run_key(key)
        run = by_key.get(key)
        folder = art.seed_dir(root, model, seed)
        if run is None:
            raise BenchError(f"{root / art.MANIFEST} records {model} seed {seed} as {status}, but "
                             f"{folder / art.CONFIG} is missing; {DAMAGED_HINT}")
        if run.metrics is None:
            raise BenchError(f"{root / art.MANIFEST} records {model} seed {seed} as {status}, but "
                             f"{folder / art.METRICS} is missing; {DAMAGED_HINT}")
        if run.status != status:
            raise BenchError(f"{root / art.MANIFEST} records {model} seed {seed} as {status}, but "
                             f"{folder / art.METRICS} says {run.status}; {DAMAGED_HINT}")
        if not (folder / art.HISTORY).exists():
            raise BenchError(f"{root / art.MANIFEST} records {model} seed {seed} as {status}, but "
                             f"{folder / art.HISTORY} is missing; {DAMAGED_HINT}")
        recorded = entry.get("test_accuracy")
        found = (run.metrics.get("test") or {}).get("accuracy")
        if status == "complete" and is_number(recorded) and is_number(found) and abs(recorded - found) > 1e-12:
            raise BenchError(f"{folder / art.METRICS} records a test accuracy of {found:.4f} for {model} seed "
                             f"{seed}, but {root / art.MANIFEST} records {recorded:.4f}; {DAMAGED_HINT}")
