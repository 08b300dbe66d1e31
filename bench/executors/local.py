"""The local executor: every job in this process, one after another (the default)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from bench.engine.train import Progress
from bench.errors import BenchError
from bench.models.registry import is_plugged_in, model_code_error
from bench.executors.base import Bookkeeper, Job, JobSpec


@dataclass
class LocalExecutor:
    """Trains each job with bench.engine.train.fit, here, in order."""

    progress: Progress | None = None                              # per-batch display of each epoch, or none
    log: Callable[[str], None] = field(default=lambda msg: None)  # fit's per-epoch lines

    def prepare(self, jobs: list[Job], spec: JobSpec) -> None:
        """Nothing to check: this process can run whatever the plan built."""

    def run(self, jobs: list[Job], spec: JobSpec, book: Bookkeeper) -> dict[tuple[str, int], dict]:
        from bench.engine.train import fit

        results = {}
        for job in jobs:
            args = spec.fit_args(job)
            if job.model in spec.state_dicts:
                args["model_kwargs"] = {**args["model_kwargs"], "state_dict": spec.state_dicts[job.model]}
            try:
                # The job counts as started once fit has its checkpoint (if any) and trains.
                metrics = fit(splits=spec.splits, out_dir=spec.folder(job), data_facts=spec.facts,
                              progress=self.progress, log=self.log,
                              on_start=lambda epoch, job=job: book.started(job), **args)
            except Exception as exc:
                if isinstance(exc, BenchError) or not is_plugged_in(job.model):
                    book.stopped(job)  # a no-op unless it had started
                    raise
                # A user's model failed late (a batch size, a dtype, its own bug): this job failed, the
                # others still train, and the command ends with this one line (bench.runner.run).
                error = model_code_error(job.model, exc, job=job.key)
                self.log(f"{job.model} seed {job.seed}: failed: {error.message}")
                book.failed(job, error)
                continue
            except BaseException:
                book.stopped(job)  # a no-op unless it had started
                raise
            results[(job.model, job.seed)] = metrics
            book.finished(job, metrics)
        return results

    def record(self) -> dict:
        return {"name": "local"}
