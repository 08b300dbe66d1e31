"""The Ray executor: each model x seed job runs as a chain of Ray tasks, one epoch per task.

Design (see README, "Cluster"):
- The driver checks and loads the data and weights once and puts them in the object store.
- A task trains one epoch of one job with the same `fit` as a local run, inside a temporary
  directory of its own: it gets the job's last checkpoint, history and config as bytes, and
  returns the files it wrote. Tasks never see the run directory; nodes share no filesystem.
- The driver writes each returned file into the run directory (atomically, under the run
  directory's lock), so every finished epoch is checkpointed where a re-run finds it. A task
  lost with its worker or node is submitted again from the last finished epoch, up to
  `max_retries` times; a job that still fails is recorded as failed and the others go on.
- Each task sets torch's thread count to its CPUs, so that a Ray run with as many CPUs per job
  as a local run's threads computes bitwise the same results.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from dataclasses import dataclass

from bench.config import CONNECT_TIMEOUT
from bench.rundir import layout as art
from bench.errors import BenchError
from bench.executors.base import Bookkeeper, Job, JobSpec

# What a task needs to resume a job; the driver sends these from the job's folder.
RESUME_FILES = (art.CONFIG, art.HISTORY, art.CHECKPOINT)


def require_ray():
    try:
        import ray
    except ImportError:
        raise BenchError('--executor ray needs Ray: pip install "bench[ray]"') from None
    return ray


def epoch_task(job_args: dict, splits, facts: dict, state_dict, files: dict[str, bytes], threads: int) -> dict:
    """Train one more epoch of a job in a private temporary folder; return the files it holds afterwards."""
    import ray
    import torch

    from bench.engine.train import fit

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-task-") as tmp:
        folder = Path(tmp)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        kwargs = dict(job_args)
        if state_dict is not None:
            kwargs["model_kwargs"] = {**kwargs["model_kwargs"], "state_dict": state_dict}
        metrics = fit(splits=splits, data_facts=facts, out_dir=folder, epoch_budget=1, **kwargs)
        out = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}
    return {"files": out, "metrics": metrics, "node": ray.util.get_node_ip_address(), "pid": os.getpid(),
            "seconds": time.perf_counter() - t0}


def _lost(ray, exc: BaseException) -> bool:
    """A failure of the machinery (worker or node gone, object lost), worth running the epoch again."""
    ex = ray.exceptions
    kinds = tuple(getattr(ex, n) for n in ("WorkerCrashedError", "NodeDiedError", "ObjectLostError",
                                            "OwnerDiedError", "OutOfMemoryError", "RaySystemError",
                                            "LocalRayletDiedError", "TaskUnschedulableError")
                  if hasattr(ex, n))
    return isinstance(exc, kinds)


def cluster_info(ray) -> dict:
    nodes = [{"node": n.get("NodeManagerAddress"), "resources": {k: v for k, v in n.get("Resources", {}).items()
                                                                  if k in ("CPU", "GPU", "memory")}}
             for n in ray.nodes() if n.get("Alive")]
    return {"nodes": nodes, "resources": {k: v for k, v in ray.cluster_resources().items()
                                          if k in ("CPU", "GPU", "memory", "object_store_memory")}}


@dataclass
class RayExecutor:
    """Runs each job as a chain of one-epoch Ray tasks (see the module's docstring)."""

    address: str | None = None   # None starts a local Ray instance; "auto" joins `ray start --head`
    cpus_per_job: int = 1        # CPUs (and torch threads) per task
    gpus_per_job: float = 0.0    # GPUs per task; a fraction packs several tasks on one GPU
    max_retries: int = 2         # re-submissions of an epoch lost with its worker or node
    cluster: dict | None = None  # what the last run found: address, nodes, resources
    connect_timeout: float = CONNECT_TIMEOUT  # seconds a cluster at `address` has to answer (--ray-timeout)
    joined: bool = False         # prepare() joined and checked Ray; run() shuts it down again

    def prepare(self, jobs: list[Job], spec: JobSpec) -> None:
        """Join (or start) Ray and check that it can run these jobs, before the driver writes anything: the
        models' code must be bench's own (workers import bench, not the user's files), the cluster must answer
        within `connect_timeout` seconds, and some node must have the CPUs and GPUs a job asks for."""
        from bench.models.registry import is_plugged_in

        plugged = sorted({job.model for job in jobs if is_plugged_in(job.model)})
        if plugged:
            raise BenchError(f"--executor ray cannot train plugged-in models yet ({', '.join(plugged)}): Ray workers "
                             "import bench but not your --models-from files; train them with --executor local")
        ray = require_ray()
        if self.joined:
            return  # already joined and checked
        self.check_answers()
        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR, ignore_reinit_error=True)
        except Exception as exc:  # connection errors come in many types
            raise BenchError(f"could not start or join Ray (--ray-address {self.address or '(local)'}): "
                             f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from None
        try:
            cluster = {"address": self.address or "local", **cluster_info(ray)}
            biggest = max((n["resources"].get("CPU", 0) for n in cluster["nodes"]), default=0)
            gpus = max((n["resources"].get("GPU", 0) for n in cluster["nodes"]), default=0)
            if self.cpus_per_job > biggest or self.gpus_per_job > gpus:
                raise BenchError(f"no Ray node has {self.cpus_per_job} CPUs and {self.gpus_per_job:g} GPUs for a job "
                                 f"(largest node: {biggest:g} CPUs, {gpus:g} GPUs); lower --cpus-per-job / "
                                 "--gpus-per-job")
        except BaseException:
            ray.shutdown()
            raise
        self.cluster, self.joined = cluster, True

    def check_answers(self) -> None:
        """A cluster named HOST:PORT (or ray://HOST:PORT) must accept a connection within `connect_timeout`:
        ray.init itself would wait for minutes. 'auto' and a local instance are Ray's own to find."""
        import socket

        address = (self.address or "").removeprefix("ray://")
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit():
            return
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=self.connect_timeout).close()
        except OSError as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
            raise BenchError(f"the Ray cluster at --ray-address {self.address} does not answer within "
                             f"{self.connect_timeout:g} s ({reason}); check that `ray start --head` runs there, or "
                             "allow more time with --ray-timeout") from None

    def run(self, jobs: list[Job], spec: JobSpec, book: Bookkeeper) -> dict[tuple[str, int], dict]:
        self.prepare(jobs, spec)
        ray = require_ray()
        try:
            return self._drive(ray, jobs, spec, book)
        finally:
            self.joined = False
            ray.shutdown()

    def record(self) -> dict:
        return {"name": "ray", "cpus_per_job": self.cpus_per_job, "gpus_per_job": self.gpus_per_job,
                "max_retries": self.max_retries, "cluster": self.cluster}

    def _drive(self, ray, jobs: list[Job], spec: JobSpec, book: Bookkeeper) -> dict:
        remote = ray.remote(epoch_task).options(num_cpus=self.cpus_per_job, num_gpus=self.gpus_per_job,
                                                max_retries=0)
        splits_ref, facts_ref = ray.put(spec.splits), ray.put(spec.facts)
        weight_refs = {model: ray.put(sd) for model, sd in spec.state_dicts.items() if sd is not None}
        total = len(jobs)
        inflight, attempts, results = {}, {job: 0 for job in jobs}, {}

        def submit(job: Job) -> None:
            folder = spec.folder(job)
            files = {n: (folder / n).read_bytes() for n in RESUME_FILES if (folder / n).is_file()}
            ref = remote.remote(spec.fit_args(job), splits_ref, facts_ref, weight_refs.get(job.model), files,
                                self.cpus_per_job)
            inflight[ref] = job

        for job in jobs:
            resumed = book.started(job)
            book.log(f"{book.progress(total)} {job.model} seed {job.seed}: "
                     + ("resuming from its last checkpoint" if resumed else "started"))
            submit(job)
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            ref = ready[0]
            job = inflight.pop(ref)
            try:
                out = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                message = cause.message if isinstance(cause, BenchError) else f"{type(cause).__name__}: {cause}"
                book.failed(job, message)
                book.log(f"{book.progress(total)} {job.model} seed {job.seed}: failed: {message}")
                continue
            except Exception as exc:  # lost worker, node or object
                if not _lost(ray, exc):
                    raise
                attempts[job] += 1
                if attempts[job] > self.max_retries:
                    book.failed(job, f"{type(exc).__name__} after {self.max_retries} retries")
                    book.log(f"{book.progress(total)} {job.model} seed {job.seed}: failed ({type(exc).__name__}) "
                             f"after {self.max_retries} retries")
                    continue
                book.log(f"{job.model} seed {job.seed}: {type(exc).__name__}; retry {attempts[job]}/"
                         f"{self.max_retries} from the last finished epoch")
                submit(job)
                continue
            folder = spec.folder(job)
            metrics = out["metrics"]
            # metrics.json last: its presence marks the job as finished.
            for name in sorted(out["files"], key=lambda n: n == art.METRICS):
                art.write_bytes(folder / name, out["files"][name])
            where = {"node": out["node"], "pid": out["pid"]}
            if metrics["status"] == "unfinished":
                book.log(f"{book.progress(total)} {job.model} seed {job.seed}: epoch {metrics['epochs_run']}/"
                         f"{spec.epochs(job)} on {out['node']} (pid {out['pid']}, {out['seconds']:.1f} s)")
                submit(job)
                continue
            results[(job.model, job.seed)] = metrics
            book.finished(job, metrics, where=where)
            book.log(f"{book.progress(total)} {job.model} seed {job.seed}: {metrics['status']} on {out['node']}"
                     + (f", test accuracy {metrics['test']['accuracy']:.4f}" if "test" in metrics else ""))
        return results
