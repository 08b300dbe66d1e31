"""A training command resolved into a `Plan`: every model's spec, builder arguments, weights and protocol
record, checked before anything is written. Nothing in this module writes to the run directory."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from bench.config import RunOptions
from bench.data.cifar10 import Cifar10
from bench.data.pipelines import Splits
from bench.errors import BenchError
from bench.executors.base import Job, JobSpec
from bench.models.registry import create_model, get_entry
from bench.protocol import BUILTIN, Profile, Protocol, TrainSpec, get_profile, spec_for
from bench.rundir import layout as art
from bench.rundir.checks import fingerprint


@dataclass(frozen=True)
class ResolvedWeights:
    """A model's pretrained weights, found and loaded."""

    state_dict: dict | None  # tensors to load into the model; None: random initialisation (--no-pretrained)
    record: dict             # {"source", "sha256"} as config.json records them


def resolve_weights(models: list[str], *, path: str | Path | None, pretrained: bool,
                    download: bool) -> dict[str, ResolvedWeights]:
    """The pretrained weights of every model whose registry entry asks for some (`entry.weights`).

    `path` is the user's local weights file (--vgg-weights, or the entry's own environment variable when
    None); `pretrained=False` records a random initialisation instead. Raises on missing or damaged files.
    """
    resolved = {}
    for name in models:
        weights = get_entry(name).weights
        if weights is None:
            continue
        state, source = weights.resolve(path, pretrained=pretrained, download=download)
        resolved[name] = ResolvedWeights(state, weights.record(path, source))
    return resolved


def directory_record(*, profile: Profile, facts: dict, options: RunOptions, threads: int | None = None) -> dict:
    """What every member of a run directory shares (see bench.rundir.rundir). `threads`: torch's thread count
    where the jobs run (default: this process's)."""
    import torch

    from bench.engine.env import versions

    return {"profile": asdict(profile), "data": facts["digests"], "device_type": options.device,
            "precision": options.precision, "torch_threads": threads or torch.get_num_threads(),
            "versions": {k: v for k, v in versions(options.device).items() if k not in ("gpu", "driver")}}


@dataclass
class Plan:
    """A training command with everything resolved and checked; nothing is written until bench.runner.run."""

    out: Path                          # the run directory
    models: list[str]                  # models to train, in order
    seeds: list[int]                   # seeds each model trains with
    profile: Profile                   # full or smoke
    options: RunOptions                # device, precision, pipeline, ... (fingerprinted)
    specs: dict[str, TrainSpec]        # model -> its spec after profile and --epochs
    model_kwargs: dict[str, dict]      # builder arguments recorded in config.json (no weights)
    state_dicts: dict[str, dict]       # pretrained weights to load, per model that has some
    weights: dict[str, dict]           # {"source", "sha256"} per model that uses pretrained weights
    protocols: dict[str, dict]         # each model's compute record without the seed
    directory: dict                    # the directory record (bench.rundir.rundir)
    splits: Splits                     # the data every job trains on
    facts: dict                        # dataset.json's record of it
    data: Cifar10 | None = None        # the raw data, for the sample grid (None: splits given directly)
    protocol: dict | None = None       # the protocol record merged into manifest["protocol"]

    def jobs(self) -> list[Job]:
        """Every model x seed, model by model."""
        return [Job(name, seed) for name in self.models for seed in self.seeds]

    def job_fingerprint(self, job: Job) -> str:
        """The fingerprint a job's config.json and finished metrics.json carry."""
        return fingerprint({**self.protocols[job.model], "seed": job.seed})

    def job_spec(self) -> JobSpec:
        """What an executor needs to train any of this plan's jobs."""
        return JobSpec(root=self.out, splits=self.splits, facts=self.facts, specs=self.specs,
                       model_kwargs=self.model_kwargs, state_dicts=self.state_dicts, weights=self.weights,
                       fingerprints={job.key: self.job_fingerprint(job) for job in self.jobs()},
                       common=dict(options=self.options, profile=asdict(self.profile),
                                   directory_fingerprint=fingerprint(self.directory)))


def plan_training(models: list[str], seeds: list[int], *, data: Cifar10 | None, splits: Splits, facts: dict,
                  profile: Profile, options: RunOptions, out: Path, weights: dict[str, ResolvedWeights],
                  overrides: dict | None = None, epochs: int | None = None, protocol: Protocol = BUILTIN,
                  threads: int | None = None) -> Plan:
    """Resolve every model's spec and protocol record; raises on anything wrong, writes nothing.

    `weights` comes from `resolve_weights` (every model whose entry needs weights must be in it);
    `overrides` are the user's builder settings (e.g. frozen_blocks), applied to the models that have them.
    """
    from bench.engine.train import compute_record

    for name in models:
        if get_entry(name).weights is not None and name not in weights:
            raise ValueError(f"plan_training needs the resolved weights of {name}")
    specs, kwargs, state_dicts, records, protocols = {}, {}, {}, {}, {}
    for name in models:
        specs[name] = spec_for(name, profile, protocol=protocol, epochs=epochs)
        kwargs[name] = get_entry(name).model_kwargs(**(overrides or {}))
        if name in weights:
            state_dicts[name] = weights[name].state_dict
            records[name] = weights[name].record
        # The architecture enters the protocol, so build it once (no weights needed for that).
        model = create_model(name, **kwargs[name])
        protocols[name] = compute_record(specs[name], options=options, model_kwargs=kwargs[name],
                                         weights=records.get(name, {}), profile=asdict(profile), data_facts=facts,
                                         model=model)
    directory = directory_record(profile=profile, facts=facts, options=options, threads=threads)
    # The protocol as intended (before profile and --epochs changes) and its reference numbers, for the report.
    intended = {"source": protocol.source, "study": list(protocol.study),
                "specs": {m: spec_for(m, get_profile("full"), protocol=protocol).to_dict() for m in models},
                "reference": {m: protocol.reference[m] for m in models if m in protocol.reference}}
    return Plan(Path(out), list(models), list(seeds), profile, options, specs, kwargs, state_dicts, records,
                protocols, directory, splits, facts, data, intended)


def preflight(plan: Plan, jobs: list[Job]) -> None:
    """Each job's own files, checked before the run directory is written: a finished run of another
    configuration, or a checkpoint that is damaged, foreign or inconsistent, is refused here."""
    from bench.engine.checkpoint import check_checkpoint

    for job in jobs:
        folder = art.seed_dir(plan.out, job.model, job.seed)
        expected = plan.job_fingerprint(job)
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
            check_checkpoint(state, plan.specs[job.model].epochs, folder / art.CHECKPOINT)
