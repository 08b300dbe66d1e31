"""The one executor interface, and the bookkeeping every executor shares.

An executor decides only WHERE the model x seed jobs of a run train (this process, a Ray cluster).
Everything else is decided here, once, for all of them:

- which jobs run at all (`run_jobs`): --force clears a job's files first; a job whose metrics.json
  already carries this plan's fingerprint is finished and skipped;
- how a job's time and state reach the manifest (`Bookkeeper`): started / finished / failed /
  stopped, with wall time that adds up across interruptions and resumes.

Executors receive the jobs still to train, a `JobSpec` (how to train each), and the `Bookkeeper`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from bench.errors import BenchError
from bench.rundir import layout as art


@dataclass(frozen=True)
class Job:
    """One model trained with one seed."""

    model: str  # a registered model name
    seed: int   # its training seed

    @property
    def key(self) -> str:
        """Its name in the manifest and in logs ('mlp/seed-0')."""
        return art.run_key(self.model, self.seed)


@dataclass(frozen=True)
class JobSpec:
    """How to train any job of one run: what the driver resolved, shared by every executor."""

    root: Path                          # the run directory (the driver's; Ray tasks never see it)
    splits: object                      # bench.data Splits every job trains and is tested on
    facts: dict                         # dataset.json's record of those splits
    specs: dict                         # model -> its TrainSpec
    model_kwargs: dict[str, dict]       # model -> builder arguments recorded in config.json (no weights)
    state_dicts: dict[str, object]      # model -> pretrained weights to load (None: random init)
    weights: dict[str, dict]            # model -> {"source", "sha256"} of its pretrained weights
    fingerprints: dict[str, str]        # job key -> fingerprint its metrics.json carries once finished
    common: dict = field(default_factory=dict)  # fit() arguments every job shares (options, profile, ...)

    def folder(self, job: Job) -> Path:
        return art.seed_dir(self.root, job.model, job.seed)

    def epochs(self, job: Job) -> int:
        return self.specs[job.model].epochs

    def fit_args(self, job: Job) -> dict:
        """bench.engine.train.fit's arguments for `job`, without the data, the folder and the weights
        (an executor sends those its own way)."""
        return dict(spec=self.specs[job.model], seed=job.seed, model_kwargs=self.model_kwargs[job.model],
                    weights=self.weights.get(job.model, {}), **self.common)

    def finished(self, job: Job) -> bool:
        """The ONE "is this job done?": metrics.json present, with this plan's fingerprint and a final status."""
        from bench.engine.checkpoint import is_finished

        return is_finished(self.folder(job), self.fingerprints[job.key])


@dataclass
class Recorder:
    """Where the driver records each job's events (the run directory's manifest, in practice)."""

    started: Callable[..., None]    # (job, *, started_at: str | None, where: dict | None)
    finished: Callable[..., None]   # (job, metrics, *, wall_seconds: float, where: dict | None)
    failed: Callable[..., None]     # (job, error: str, *, where: dict | None)
    stopped: Callable[..., None]    # (job, *, wall_seconds: float): interrupted
    earlier: Callable[[Job], dict]  # (job) -> its manifest entry from earlier commands ({} under --force)
    log: Callable[[str], None] = print


class Bookkeeper:
    """Counts and times jobs and hands their events to a Recorder; executors call it, never the manifest."""

    def __init__(self, spec: JobSpec, recorder: Recorder):
        self.spec = spec
        self.recorder = recorder
        self.log = recorder.log
        self.counts = {"finished": 0, "failed": 0, "skipped": 0}
        self.failures: list[BaseException] = []  # each failed job's error, in order (the command reports the first)
        self._began: dict[Job, float] = {}
        self._resumed: dict[Job, bool] = {}

    def started(self, job: Job, *, where: dict | None = None) -> bool:
        """A job begins now; returns whether it resumes from a checkpoint (its earlier time then counts)."""
        resumed = (self.spec.folder(job) / art.CHECKPOINT).is_file()
        self._began[job], self._resumed[job] = time.perf_counter(), resumed
        first = self.recorder.earlier(job).get("started_at") if resumed else None
        self.recorder.started(job, started_at=first, where=where)
        return resumed

    def _wall(self, job: Job) -> float:
        wall = time.perf_counter() - self._began[job]
        earlier = (self.recorder.earlier(job).get("wall_seconds") or 0.0) if self._resumed[job] else 0.0
        return wall + earlier

    def finished(self, job: Job, metrics: dict, *, where: dict | None = None) -> None:
        if job not in self._began:
            # The engine found nothing to train (finished between planning and now): a skip, not a run.
            self.counts["skipped"] += 1
            return
        self.counts["finished"] += 1
        self.recorder.finished(job, metrics, wall_seconds=self._wall(job), where=where)

    def failed(self, job: Job, error: str | BaseException, *, where: dict | None = None) -> None:
        """A job ended with an error (a message, or the exception itself: kept for `bench --debug`)."""
        self.counts["failed"] += 1
        self.failures.append(error if isinstance(error, BaseException) else BenchError(error))
        self.recorder.failed(job, str(error), where=where)

    def stopped(self, job: Job) -> None:
        """Interrupted or crashed mid-job: keep the time spent, so that a resumed run adds to it."""
        if job in self._began:
            self.recorder.stopped(job, wall_seconds=self._wall(job))

    def progress(self, total: int) -> str:
        return f"[{self.counts['finished'] + self.counts['failed']}/{total} done]"


class Executor(Protocol):
    """Where jobs train. `run` trains each of `jobs` (none is finished) into its folder, calling the
    bookkeeper as each starts and ends, and returns {(model, seed): metrics} of those that ended."""

    def prepare(self, jobs: list[Job], spec: JobSpec) -> None:
        """Every check that only the executor can make (a cluster that answers, resources some node has, models
        its workers can load), made before the driver writes anything; raises BenchError to refuse."""
        ...

    def run(self, jobs: list[Job], spec: JobSpec, book: Bookkeeper) -> dict[tuple[str, int], dict]: ...

    def record(self) -> dict:
        """The manifest's "executor" record of the last `run` (never fingerprinted: it changes no result)."""
        ...


def run_jobs(executor: Executor, jobs: list[Job], spec: JobSpec, recorder: Recorder, *,
             force: bool) -> tuple[dict[tuple[str, int], dict], Bookkeeper]:
    """Train `jobs` through `executor`: --force clears each job's files first, finished jobs are skipped.

    Returns the metrics of every job (finished earlier or now) and the bookkeeper with its counts.
    """
    book = Bookkeeper(spec, recorder)
    results, todo = {}, []
    for job in jobs:
        if force:
            for name in art.SEED_FILES:
                (spec.folder(job) / name).unlink(missing_ok=True)
        if spec.finished(job):
            done = art.read_json(spec.folder(job) / art.METRICS)
            book.counts["skipped"] += 1
            book.log(f"{job.model} seed {job.seed}: already finished ({done.get('status')}), skipping "
                     "(--force to redo)")
            results[(job.model, job.seed)] = done
        else:
            todo.append(job)
    results.update(executor.run(todo, spec, book))
    return results, book
