"""Running a plan: under the run directory's lock, check who may join, record the run in the manifest,
and hand every job to ONE executor call (bench.executors). `train` is `bench train`/`bench all`'s whole
training step, from a TrainRequest."""

from __future__ import annotations

import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from bench.config import ExecutorOptions
from bench.engine.train import Progress
from bench.errors import BenchError
from bench.executors import make_executor
from bench.executors.base import Job, Recorder, run_jobs
from bench.models.registry import ModelCodeError
from bench.rundir import layout as art
from bench.rundir.checks import fingerprint
from bench.rundir.rundir import RunDir, merged_protocol
from bench.runner.data import prepare_data, write_data_artifacts
from bench.runner.plan import Plan, plan_training, preflight, resolve_weights
from bench.runner.request import TrainRequest, jobs_threads, resolve_options


def command_line() -> list[str]:
    """This process's command, as the manifest records it."""
    return ["bench", *sys.argv[1:]]


def manifest_recorder(run_dir: RunDir, *, command: list[str], force: bool,
                      log: Callable[[str], None]) -> Recorder:
    """The driver's record keeping: one manifest entry per job, kept across resume and skip."""
    def earlier(job: Job) -> dict:
        return {} if force else run_dir.entry(job.key)

    return Recorder(
        started=lambda job, *, started_at, where: run_dir.mark_started(job.key, command=command,
                                                                      started_at=started_at, where=where),
        finished=lambda job, metrics, *, wall_seconds, where: run_dir.mark_finished(
            job.key, metrics, wall_seconds=wall_seconds, command=command, where=where),
        failed=lambda job, error, *, where: run_dir.mark_failed(job.key, error, where=where),
        stopped=lambda job, *, wall_seconds: run_dir.mark_stopped(job.key, wall_seconds=wall_seconds),
        earlier=earlier, log=log)


def run_plan(plan: Plan, *, force: bool, log, command: list[str], progress: Progress | None = None,
             grid_per_class: int = 10, executor: ExecutorOptions = ExecutorOptions()) -> dict:
    """Train every model for every seed of `plan` into its run directory, holding the directory's lock.

    The directory is checked (RunDir.check_joinable) before the first write; each job is recorded in
    the manifest as it starts and finishes. `progress` shows each epoch's batches (bench.engine.train.Progress;
    the local executor only). Returns {(model, seed): metrics}.
    """
    from bench.engine.env import device_name, git_commit, load_average, machine, versions

    log = log or (lambda msg: None)
    run_dir = RunDir(plan.out)
    jobs = plan.jobs()
    # What only the executor can know (a cluster that answers, its resources, models its workers can load) is
    # checked before the lock creates anything.
    job_executor = make_executor(executor, progress=progress, log=log)
    job_executor.prepare(jobs, plan.job_spec())
    with run_dir.lock():
        discard = run_dir.check_joinable(directory=plan.directory, protocols=plan.protocols, force=force)
        if not force:
            preflight(plan, [j for j in jobs if run_dir.seed_dir(j.model, j.seed) not in discard])
        before = run_dir.manifest()
        reset = bool(discard) and bool(before) and before.get("directory") != plan.directory
        for path in discard:
            log(f"--force: discarding {path}")
            shutil.rmtree(path)
        if reset:
            (plan.out / art.DATASET).unlink(missing_ok=True)
            before = {}
        recorded = write_data_artifacts(plan.out, plan.data, plan.facts, grid_per_class=grid_per_class)
        # The driver's machine, outside the fingerprint (old directories without it stay valid): read by the
        # report's setup, never by a check. The load at the end joins the one at the start (env.shared_machine).
        host = machine(plan.options.device)
        run_dir.update_manifest(
            reset=reset, machine=host, protocol=merged_protocol(before.get("protocol") or {}, plan.protocol),
            directory=plan.directory, fingerprint=fingerprint(plan.directory), device=plan.options.device,
            device_name=device_name(plan.options.device), git_commit=git_commit(),
            versions=versions(plan.options.device), data_checksums=recorded["checksums"],
            profile=asdict(plan.profile), options=asdict(plan.options),
            weights={**(before.get("weights") or {}), **plan.weights}, command=command)
        recorder = manifest_recorder(run_dir, command=command, force=force, log=log)
        results, book = run_jobs(job_executor, jobs, plan.job_spec(), recorder, force=force)
        # A command that trained nothing (every job already finished) keeps the record of the machine that did.
        trained = book.counts["finished"] + book.counts["failed"]
        run_dir.update_manifest(executor=job_executor.record(),
                                machine={**host, "load_end": load_average()} if trained else before.get("machine"))
        if book.counts["failed"]:
            first = book.failures[0]
            summary = (f"{book.counts['failed']} of {len(jobs)} jobs failed (recorded in {art.MANIFEST}); the others "
                       "finished; re-run the same command to retry the failed ones")
            message = f"{first}; {summary}" if len(book.failures) == 1 else f"{summary}; the first: {first}"
            cause = getattr(first, "cause", None)  # a user's model's exception: `bench --debug` shows its traceback
            raise ModelCodeError(message, cause) if cause is not None else BenchError(message)
    return results


def plan_request(request: TrainRequest) -> dict:
    """The resolved plan of a request as `--dry-run` prints it; reads and writes nothing."""
    from bench.data.cifar10 import default_data_dir
    from bench.protocol import get_profile, spec_for

    options, _ = resolve_options(request)
    profile = get_profile(request.profile_name)
    return {"artifacts": str(request.out), "data_dir": str(request.data_dir or default_data_dir()),
            "profile": profile.name, "seeds": list(request.seeds), "options": asdict(options),
            "models": {m: spec_for(m, profile, protocol=request.protocol, epochs=request.epochs).to_dict()
                       for m in request.models}}


def train(request: TrainRequest, *, log: Callable[[str], None], progress: Progress | None = None) -> Path:
    """Train what `request` asks for into its run directory; returns the directory.

    Everything that can fail on bad input is checked before the first write: the destination, the
    weights, the data, every model's protocol, then (under the lock) the run directory.
    """
    from bench.data.cifar10 import default_data_dir
    from bench.protocol import get_profile

    options, executor = resolve_options(request)
    profile = get_profile(request.profile_name)
    out = request.out
    art.check_writable_dir(out)
    weights = resolve_weights(list(request.models), path=request.weights_path, pretrained=request.pretrained,
                              download=request.download)
    data, splits, facts = prepare_data(request.data_dir or default_data_dir(), profile, download=request.download,
                                       verify=request.verify)
    plan = plan_training(list(request.models), list(request.seeds), data=data, splits=splits, facts=facts,
                         profile=profile, options=options, out=out, weights=weights,
                         overrides=request.model_settings, epochs=request.epochs, protocol=request.protocol,
                         threads=jobs_threads(request, executor))
    if options.deterministic and options.device == "cuda":
        log("warning: --deterministic forces deterministic CUDA kernels and disables cuDNN autotuning; "
            "expect slower training")
    run_plan(plan, force=request.force, log=log, command=list(request.command) or command_line(),
             progress=progress, executor=executor)
    log(f"artifacts in {out}")
    return out
