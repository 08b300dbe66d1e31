"""Wiring of a whole run: data, each model x seed, the manifest. The CLI calls these."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench import ARTIFACT_FORMAT
from bench.rundir import layout as art
from bench.data.cifar10 import Cifar10, Splits, describe, load_cifar10, make_splits
from bench.errors import BenchError
from bench.models.registry import VGG_WEIGHTS_ENV, describe_source, get_entry, model_names, resolve_vgg_weights
from bench.protocol import BUILTIN, Profile, Protocol, TrainSpec, get_profile, spec_for
from bench.executors import Job, Recorder
from bench.executors.local import run_local
from bench.rundir.rundir import RunLock, check_joinable, fingerprint
from bench.engine.train import RunOptions, compute_record, device_name, fit, versions


def git_commit() -> str | None:
    """The commit of the bench checkout that ran ('+dirty' when it had local changes), or None when bench
    was installed from a package (the manifest's versions.bench names it then)."""
    package = Path(__file__).resolve().parents[1]
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=5,
                             cwd=package)
        # Only our own checkout counts: an installed copy may sit inside someone else's repository.
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != package.parent:
            return None
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=package)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=package)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = head.stdout.strip()
    return (commit + ("+dirty" if dirty.stdout.strip() else "")) if head.returncode == 0 and commit else None


def split_digests(splits: Splits) -> dict:
    """SHA-256 of each split's pixels and labels as used: the data's identity, checked or not against the
    published checksums."""
    out = {}
    for name in ("train", "val", "test"):
        images, labels = getattr(splits, name)
        digest = hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
        digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
        out[name] = digest.hexdigest()
    return out


def prepare_data(data_dir: Path, profile: Profile, *, download: bool, verify: bool) -> tuple[Cifar10, Splits, dict]:
    """Load, check and split the data, and describe it as dataset.json will; writes nothing."""
    data = load_cifar10(data_dir, download=download, verify=verify)
    splits = make_splits(data, limits=profile.limits)
    return data, splits, describe_splits(data, splits)


def describe_splits(data: Cifar10, splits: Splits) -> dict:
    """dataset.json: the data's description plus the digests that identify the splits actually used."""
    facts = describe(data, splits)
    facts["digests"] = split_digests(splits)
    facts["test_labels_sha256"] = hashlib.sha256(
        np.ascontiguousarray(splits.test[1], dtype=np.int64).tobytes()).hexdigest()
    return facts


def write_data_artifacts(out: Path, data: Cifar10, facts: dict, *, grid_per_class: int = 10) -> None:
    """dataset.json and the sample grid; an existing dataset.json must describe the same data."""
    from bench.render.plots import sample_grid_png

    out = Path(out)
    path = out / art.DATASET
    if path.exists():
        old = art.read_json(path)
        if old.get("digests") != facts["digests"]:
            raise BenchError(f"{path} describes other data (another profile or data files); "
                             "choose another --artifacts directory")
    art.write_json(path, facts)
    art.write_bytes(out / art.SAMPLES,
                    sample_grid_png(data.train_images, data.train_labels, data.classes, per_class=grid_per_class))


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def update_manifest(out: Path, *, reset: bool = False, models: dict | None = None, **fields) -> dict:
    """Merge `fields` and per-model `models` entries into manifest.json (creating it).

    Seeds, start and finish times and `train_wall_seconds` are derived from the model entries,
    so runs added by separate commands are all counted.
    """
    path = Path(out) / art.MANIFEST
    manifest = {} if reset or not path.exists() else art.read_json(path)
    if manifest:
        art.check_format(manifest, path)
    entries = dict(manifest.get("models", {}))
    for key, entry in (models or {}).items():
        entries[key] = {**entries.get(key, {}), **entry}
    manifest.update(fields, models=entries, artifact_format=ARTIFACT_FORMAT)
    manifest["seeds"] = sorted({int(key.rsplit("seed-", 1)[1]) for key in entries})
    starts = [e["started_at"] for e in entries.values() if e.get("started_at")]
    ends = [e["finished_at"] for e in entries.values() if e.get("finished_at")]
    manifest["started_at"] = min(starts) if starts else None
    manifest["finished_at"] = max(ends) if ends else None
    manifest["train_wall_seconds"] = ((dt.datetime.fromisoformat(max(ends)) - dt.datetime.fromisoformat(min(starts)))
                                      .total_seconds() if starts and ends else None)
    art.write_json(path, manifest)
    return manifest


def weights_record(vgg_weights: str | Path | None, source: str) -> dict:
    """Where the VGG16 weights came from and the SHA-256 of the file that held them."""
    if source.startswith("none"):
        return {"source": source, "sha256": None}
    path = vgg_weights or os.environ.get(VGG_WEIGHTS_ENV)
    if not path:
        # torchvision's download lands in torch hub's cache under the URL's file name.
        import torch
        import torchvision

        url = torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
        path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
    path = Path(path)
    return {"source": source, "sha256": art.sha256_file(path) if path.is_file() else None}


def directory_record(*, profile: Profile, facts: dict, options: RunOptions, threads: int | None = None) -> dict:
    """What every member of a run directory shares (see bench.rundir.rundir). `threads`: torch's thread count
    where the jobs run (default: this process's)."""
    import torch

    return {"profile": asdict(profile), "data": facts["digests"], "device_type": options.device,
            "precision": options.precision, "torch_threads": threads or torch.get_num_threads(),
            "versions": {k: v for k, v in versions(options.device).items() if k not in ("gpu", "driver")}}


@dataclass
class Plan:
    """A training command with everything resolved and checked; nothing is written until `run_plan`."""

    out: Path
    models: list[str]
    seeds: list[int]
    profile: Profile
    options: RunOptions
    specs: dict[str, TrainSpec]
    model_kwargs: dict[str, dict]      # builder arguments recorded in config.json (no weights)
    state_dicts: dict[str, dict]       # pretrained weights to load, per model
    weights: dict[str, dict]           # {"source", "sha256"} per model that uses pretrained weights
    protocols: dict[str, dict]         # each model's compute record without the seed
    directory: dict                    # the directory record (bench.rundir.rundir)
    splits: Splits
    facts: dict
    data: Cifar10 | None = None
    protocol: dict | None = None       # the protocol record merged into manifest["protocol"]


def plan_training(models: list[str], seeds: list[int], *, data: Cifar10 | None, splits: Splits, facts: dict,
                  profile: Profile, options: RunOptions, out: Path, vgg: tuple[dict | None, str] | None,
                  vgg_weights: str | Path | None = None, frozen_blocks: int = 3, image_size: int = 32,
                  epochs: int | None = None, protocol: Protocol = BUILTIN, threads: int | None = None) -> Plan:
    """Resolve every model's spec and protocol record; raises on anything wrong, writes nothing.

    `vgg` is (state_dict or None, source description) from `resolve_vgg_weights`.
    """
    from bench.models.registry import create_model

    for name in models:
        get_entry(name)
    if "vgg16" in models and vgg is None:
        raise ValueError("plan_training needs the resolved VGG16 weights to train vgg16")
    specs, kwargs, state_dicts, weights, protocols = {}, {}, {}, {}, {}
    for name in models:
        specs[name] = spec_for(name, profile, protocol=protocol, epochs=epochs)
        kwargs[name] = {}
        if name == "vgg16":
            kwargs[name] = {"frozen_blocks": frozen_blocks, "image_size": image_size}
            state_dicts[name] = vgg[0]
            weights[name] = weights_record(vgg_weights, vgg[1])
        # The architecture enters the protocol, so build it once (no weights needed for that).
        model = create_model(name, **kwargs[name])
        protocols[name] = compute_record(specs[name], options=options, model_kwargs=kwargs[name],
                                         weights=weights.get(name, {}), profile=asdict(profile), data_facts=facts,
                                         model=model)
    directory = directory_record(profile=profile, facts=facts, options=options, threads=threads)
    # The protocol as intended (before profile and --epochs changes) and its reference numbers, for the report.
    intended = {"source": protocol.source, "study": list(protocol.study),
                "specs": {m: spec_for(m, get_profile("full"), protocol=protocol).to_dict() for m in models},
                "reference": {m: protocol.reference[m] for m in models if m in protocol.reference}}
    return Plan(Path(out), list(models), list(seeds), profile, options, specs, kwargs, state_dicts, weights,
                protocols, directory, splits, facts, data, intended)


def _merged_protocol(old: dict, new: dict | None) -> dict:
    """manifest["protocol"]: each model's intended spec and reference, from whichever command trained it."""
    if new is None:
        return old
    sources = [s for s in old.get("sources", []) if s != new["source"]] + [new["source"]]
    return {"sources": sources, "study": new["study"], "specs": {**old.get("specs", {}), **new["specs"]},
            "reference": {**old.get("reference", {}), **new["reference"]}}


def preflight(plan: Plan, jobs: list[Job]) -> None:
    """Each job's own files, checked before the run directory is written: a finished run of another
    configuration, or a checkpoint that is damaged, foreign or inconsistent, is refused here."""
    for job in jobs:
        folder = art.seed_dir(plan.out, *_ms(job))
        expected = fingerprint({**plan.protocols[job.model], "seed": job.seed})
        hint = "use another --artifacts directory, or --force to train it again"
        if (folder / art.METRICS).exists():
            done = art.read_json(folder / art.METRICS, required={"fingerprint": str, "status": str})
            if done["fingerprint"] != expected:
                raise BenchError(f"{folder} holds a finished run with a different configuration; {hint}")
            continue
        if (folder / art.CHECKPOINT).exists():
            state = art.load_checkpoint(folder / art.CHECKPOINT)
            if not isinstance(state, dict) or state.get("fingerprint") != expected:
                raise BenchError(f"checkpoint {folder / art.CHECKPOINT} was written with a different configuration; "
                                 f"{hint}")
            check_checkpoint_epoch(state, plan.specs[job.model].epochs, folder / art.CHECKPOINT)


def check_checkpoint_epoch(state: dict, epochs: int, path: Path) -> None:
    epoch, history = state.get("epoch"), state.get("history")
    if not (isinstance(epoch, int) and not isinstance(epoch, bool) and 0 < epoch <= epochs
            and isinstance(history, list) and len(history) == epoch):
        raise BenchError(f"checkpoint {path} is inconsistent (epoch {epoch!r} of {epochs}, "
                         f"{len(history) if isinstance(history, list) else '?'} history rows); "
                         "re-run with --force to start this model again")


def _ms(job: Job) -> tuple[str, int]:
    return job.model, job.seed


def _finished(folder: Path, plan: Plan, job: Job) -> bool:
    """Whether a job's metrics.json exists with the fingerprint this plan would give it."""
    path = folder / art.METRICS
    if not path.is_file():
        return False
    done = art.read_json(path)
    return done.get("fingerprint") == fingerprint({**plan.protocols[job.model], "seed": job.seed}) and \
        done.get("status") in ("complete", "diverged")


def _recorder(out: Path, *, command: list[str], force: bool, log) -> Recorder:
    """The driver's record keeping: one manifest entry per job, kept across resume and skip."""
    def old(job: Job) -> dict:
        return {} if force else art.read_json(out / art.MANIFEST).get("models", {}).get(job.key, {})

    def started(job: Job, epoch: int, where: dict | None = None) -> None:
        # A resumed job keeps its first start time; a fresh one starts now.
        begun = old(job).get("started_at") if epoch > 0 else None
        update_manifest(out, models={job.key: {"status": "running", "command": command, "error": None,
                                               "started_at": begun or now_iso(), "finished_at": None,
                                               **({"ran_on": where} if where else {})}})

    def finished(job: Job, metrics: dict, wall: float, *, resumed: bool, where: dict | None = None) -> None:
        recorder.counts["finished"] += 1
        earlier = (old(job).get("wall_seconds") or 0.0) if resumed else 0.0
        update_manifest(out, models={job.key: {
            "status": metrics["status"], "wall_seconds": wall + earlier, "command": command,
            "finished_at": now_iso(), "train_seconds": metrics.get("train_seconds"),
            "test_accuracy": metrics.get("test", {}).get("accuracy"), **({"ran_on": where} if where else {})}})

    def failed(job: Job, error: str, where: dict | None = None) -> None:
        recorder.counts["failed"] += 1
        update_manifest(out, models={job.key: {"status": "failed", "error": error, "finished_at": None,
                                               **({"ran_on": where} if where else {})}})

    def stopped(job: Job, wall: float, *, resumed: bool) -> None:
        earlier = (old(job).get("wall_seconds") or 0.0) if resumed else 0.0
        update_manifest(out, models={job.key: {"status": "interrupted", "wall_seconds": wall + earlier}})

    recorder = Recorder(started=started, finished=finished, failed=failed, stopped=stopped, log=log)
    return recorder


@dataclass(frozen=True)
class ExecutorOptions:
    """Where jobs run (bench.executors); none of it changes results, so none of it is fingerprinted."""

    name: str = "local"                # "local" or "ray"
    address: str | None = None         # Ray: None starts a local instance; "auto" joins `ray start --head`
    cpus_per_job: int = 1              # Ray: CPUs (and torch threads) per job
    gpus_per_job: float = 0.0          # Ray: GPUs per job; fractions pack several jobs on one GPU
    max_retries: int = 2               # Ray: re-submissions of an epoch lost with its worker or node


def run_plan(plan: Plan, *, force: bool, show_progress: bool, log, command: list[str],
             grid_per_class: int = 10, executor: ExecutorOptions = ExecutorOptions()) -> dict:
    """Train every model for every seed of `plan` into its run directory, holding the directory's lock.

    The directory is checked (bench.rundir.rundir.check_joinable) before the first write; each model
    is recorded in the manifest as it starts and finishes.
    """
    log = log or (lambda msg: None)
    out = plan.out
    results = {}
    with RunLock(out):
        discard = check_joinable(out, directory=plan.directory, protocols=plan.protocols, force=force)
        jobs = [Job(name, seed) for name in plan.models for seed in plan.seeds]
        if not force:
            preflight(plan, [j for j in jobs if art.seed_dir(out, *_ms(j)) not in discard])
        reset = bool(discard) and (out / art.MANIFEST).exists() and \
            art.read_json(out / art.MANIFEST).get("directory") != plan.directory
        for path in discard:
            log(f"--force: discarding {path}")
            shutil.rmtree(path)
        if reset:
            (out / art.DATASET).unlink(missing_ok=True)
        if plan.data is not None:
            write_data_artifacts(out, plan.data, plan.facts, grid_per_class=grid_per_class)
        else:  # splits given directly (tests, verify): no raw data for the sample grid
            art.write_json(out / art.DATASET, plan.facts)
        dir_fp = fingerprint(plan.directory)
        before = {} if reset or not (out / art.MANIFEST).exists() else art.read_json(out / art.MANIFEST)
        update_manifest(out, reset=reset, protocol=_merged_protocol(before.get("protocol") or {}, plan.protocol),
                        directory=plan.directory, fingerprint=dir_fp, device=plan.options.device,
                        device_name=device_name(plan.options.device), git_commit=git_commit(),
                        versions=versions(plan.options.device), data_checksums=plan.facts["checksums"],
                        profile=asdict(plan.profile), options=asdict(plan.options),
                        weights={**(before.get("weights") or {}), **plan.weights}, command=command)
        recorder = _recorder(out, command=command, force=force, log=log)
        common = dict(options=plan.options, profile=asdict(plan.profile), directory_fingerprint=dir_fp)
        if executor.name == "local":
            def fit_job(job: Job, on_start):
                return fit(plan.specs[job.model], plan.splits, seed=job.seed, out_dir=art.seed_dir(out, *_ms(job)),
                           model_kwargs={**plan.model_kwargs[job.model], **(
                               {"state_dict": plan.state_dicts[job.model]} if job.model in plan.state_dicts else {})},
                           weights=plan.weights.get(job.model, {}), data_facts=plan.facts, force=force,
                           show_progress=show_progress, log=log, on_start=on_start, **common)

            results = run_local(jobs, fit_job=fit_job, recorder=recorder)
            update_manifest(out, executor={"name": "local"})
        else:
            from bench.executors.ray import run_ray

            if force:
                for job in jobs:
                    for name in art.SEED_FILES:
                        (art.seed_dir(out, *_ms(job)) / name).unlink(missing_ok=True)
            results, cluster = run_ray(
                jobs, job_args=lambda job: dict(spec=plan.specs[job.model], seed=job.seed,
                                                model_kwargs=plan.model_kwargs[job.model],
                                                weights=plan.weights.get(job.model, {}), **common),
                state_dicts=plan.state_dicts, splits=plan.splits, facts=plan.facts,
                job_dir=lambda job: art.seed_dir(out, *_ms(job)),
                finished=lambda job: _finished(art.seed_dir(out, *_ms(job)), plan, job),
                epochs=lambda job: plan.specs[job.model].epochs, recorder=recorder, address=executor.address,
                cpus_per_job=executor.cpus_per_job, gpus_per_job=executor.gpus_per_job,
                max_retries=executor.max_retries)
            update_manifest(out, executor={"name": "ray", "cpus_per_job": executor.cpus_per_job,
                                           "gpus_per_job": executor.gpus_per_job,
                                           "max_retries": executor.max_retries, "cluster": cluster})
        failed = recorder.counts["failed"]
        if failed:
            raise BenchError(f"{failed} of {len(jobs)} jobs failed (see {art.MANIFEST}); the others finished; "
                             "re-run the same command to retry the failed ones")
    return results


def command_line() -> list[str]:
    return ["bench", *sys.argv[1:]]


def spec_from_config(config: dict):
    from bench.protocol import Phase, TrainSpec

    d = dict(config["compute"]["spec"])
    d.pop("epochs", None)
    try:
        d["phases"] = tuple(Phase(**p) for p in d["phases"])
        return TrainSpec(**d)
    except (TypeError, ValueError, AttributeError) as exc:
        raise BenchError(f"corrupt artifact {config['model']} config.json: its spec is unreadable ({exc})") from None


def environment_differences(recorded: dict, *, device: str) -> list[str]:
    """Why bitwise equality cannot be expected here: what differs between the recorded environment and this one."""
    import torch

    notes = []
    if recorded.get("device_type") != device:
        notes.append(f"recorded on {recorded.get('device_type')}, re-run on {device}")
    threads = torch.get_num_threads()
    if device == "cpu" and recorded.get("torch_threads") != threads:
        notes.append(f"recorded with {recorded.get('torch_threads')} CPU threads, re-run with {threads}")
    now = versions(device)
    for lib, then in sorted((recorded.get("versions") or {}).items()):
        if now.get(lib) != then:
            notes.append(f"{lib} {then} then, {now.get(lib) or 'absent'} now")
    return notes


def verify_run(run_dir: Path, *, data_dir: Path, device: str | None, vgg_weights: str | None, download: bool,
               models: list[str] | None = None, log=None) -> tuple[list[dict], list[str]]:
    """Re-run every recorded model/seed from its config.json and compare with the saved results.

    Every artifact is read and checked before anything is retrained. Returns one row per run
    (identical, or the largest differences) and the environment differences under which
    bitwise equality is not to be expected.
    """
    import tempfile

    from bench.rundir.rundir import load_artifacts

    log = log or (lambda msg: None)
    artifacts = load_artifacts(run_dir)
    runs = [r for r in artifacts.runs if models is None or r.model in models]
    if not runs:
        raise BenchError(f"{run_dir} holds no trained model to verify"
                         + (f" among {', '.join(models)}" if models else ""))
    recorded = artifacts.manifest["directory"]
    device = device or recorded["device_type"]
    notes = environment_differences(recorded, device=device)
    if notes:
        log("bitwise equality is not expected: " + "; ".join(notes) + "; the largest differences are reported")
    profile = Profile(**recorded["profile"])
    # Check the pixels only if the recorded run did.
    recorded_check = ((artifacts.dataset.get("checksums") or {}).get("train") or {})
    check_pixels = isinstance(recorded_check, dict) and recorded_check.get("ok") is not None
    _, splits, facts = prepare_data(data_dir, profile, download=download, verify=check_pixels)
    if facts["digests"] != artifacts.dataset["digests"]:
        raise BenchError(f"the data in {data_dir} differs from the data {run_dir} was trained on "
                         "(split digests differ); point --data-dir at the same CIFAR-10 files")
    # Every run's recipe is read and checked before the first one is retrained.
    vgg_cache: dict = {}
    recipes = {}
    for run in runs:
        if run.status == "incomplete":
            continue
        compute = run.config["compute"]
        try:
            options = RunOptions(device=device, precision=compute["precision"], pipeline=compute["pipeline"],
                                 num_workers=compute["num_workers"] or 2, deterministic=compute["deterministic"],
                                 channels_last=compute["channels_last"], eval_batch_size=compute["eval_batch_size"],
                                 compile=compute["compile"])
            kwargs = dict(compute["model_kwargs"])
            weights = {"source": compute["weights_source"], "sha256": compute["weights_sha256"]}
            profile_record = compute["profile"]
        except KeyError as exc:
            raise BenchError(f"corrupt artifact {run.path / art.CONFIG}: no compute.{exc.args[0]} field") from None
        spec = spec_from_config(run.config)
        recorded_source = compute.get("model_source", {"kind": "built-in"})
        if recorded_source.get("kind") != "built-in":
            if run.model not in model_names():
                raise BenchError(f"{run.model} was trained from {describe_source(recorded_source)}; pass "
                                 f"--models-from with that file or module to verify it")
            current = get_entry(run.model).source
            if current.get("sha256") != recorded_source.get("sha256"):
                notes.append(f"{run.model}'s code differs from the recorded one ({describe_source(current)} now)")
        if run.model == "vgg16":
            pretrained = not str(compute["weights_source"]).startswith("none")
            if pretrained not in vgg_cache:
                vgg_cache[pretrained] = resolve_vgg_weights(vgg_weights, pretrained=pretrained, download=download)
            state, source = vgg_cache[pretrained]
            digest = weights_record(vgg_weights, source)["sha256"]
            if pretrained and compute["weights_sha256"] and digest and digest != compute["weights_sha256"]:
                notes.append(f"VGG16 weights file differs from the recorded one (sha256 {digest[:12]}... vs "
                             f"{compute['weights_sha256'][:12]}...)")
            kwargs["state_dict"] = state
        recipes[(run.model, run.seed)] = (spec, options, kwargs, weights, profile_record)
    rows = []
    for run in runs:
        if run.status == "incomplete":
            rows.append({"model": run.model, "seed": run.seed, "status": "unfinished, not verified"})
            continue
        spec, options, kwargs, weights, profile_record = recipes[(run.model, run.seed)]
        log(f"verifying {run.model} seed {run.seed} ...")
        with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
            metrics = fit(spec, splits, seed=run.seed, options=options, out_dir=Path(tmp), model_kwargs=kwargs,
                          weights=weights, profile=profile_record, data_facts=facts)
            new_hist = art.read_history(Path(tmp) / art.HISTORY)
            new_pred = art.read_predictions(Path(tmp) / art.PREDICTIONS) if metrics["status"] == "complete" else None
        keys = [k for k in art.HISTORY_FIELDS if k != "seconds"]
        old_h, new_h = (np.array([[r[k] for k in keys] for r in h], dtype=float) for h in (run.history, new_hist))
        old_l, new_l = (p["logits"] if p is not None else np.empty((0, 0)) for p in (run.predictions, new_pred))
        same, diffs = True, []
        for a, b in ((old_h, new_h), (old_l, new_l)):
            # equal_nan: a run that diverged identically twice is identical, not "different".
            equal = a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
            same &= equal
            diffs.append(0.0 if equal else float(np.nanmax(np.abs(a - b), initial=0.0))
                         if a.shape == b.shape else float("inf"))
        hist_diff, logit_diff = diffs
        rows.append({"model": run.model, "seed": run.seed, "status": "identical" if same else "different",
                     "max_logit_diff": logit_diff, "max_history_diff": hist_diff})
    return rows, notes
