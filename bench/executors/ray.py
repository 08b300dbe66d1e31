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
from typing import Callable

from bench.rundir import layout as art
from bench.errors import BenchError
from bench.executors import Job, Recorder

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


def run_ray(jobs: list[Job], *, job_args: Callable[[Job], dict], state_dicts: dict, splits, facts: dict,
            job_dir: Callable[[Job], Path], finished: Callable[[Job], bool], epochs: Callable[[Job], int],
            recorder: Recorder, address: str | None, cpus_per_job: int, gpus_per_job: float,
            max_retries: int) -> tuple[dict, dict]:
    """Run `jobs` on a Ray cluster (a local one when `address` is None); returns (results, cluster record)."""
    ray = require_ray()
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                 ignore_reinit_error=True)
    except Exception as exc:  # connection errors come in many types
        raise BenchError(f"could not start or join Ray (address {address or 'local'}): "
                         f"{type(exc).__name__}: {exc}") from None
    try:
        cluster = {"address": address or "local", **cluster_info(ray)}
        biggest = max((n["resources"].get("CPU", 0) for n in cluster["nodes"]), default=0)
        gpus = max((n["resources"].get("GPU", 0) for n in cluster["nodes"]), default=0)
        if cpus_per_job > biggest or gpus_per_job > gpus:
            raise BenchError(f"no Ray node has {cpus_per_job} CPUs and {gpus_per_job:g} GPUs for a job (largest node: "
                             f"{biggest:g} CPUs, {gpus:g} GPUs); lower --cpus-per-job / --gpus-per-job")
        results = _drive(ray, jobs, job_args=job_args, state_dicts=state_dicts, splits=splits, facts=facts,
                         job_dir=job_dir, finished=finished, epochs=epochs, recorder=recorder,
                         cpus_per_job=cpus_per_job, gpus_per_job=gpus_per_job, max_retries=max_retries)
        return results, cluster
    finally:
        ray.shutdown()


def _drive(ray, jobs, *, job_args, state_dicts, splits, facts, job_dir, finished, epochs, recorder, cpus_per_job,
           gpus_per_job, max_retries) -> dict:
    remote = ray.remote(epoch_task).options(num_cpus=cpus_per_job, num_gpus=gpus_per_job, max_retries=0)
    splits_ref, facts_ref = ray.put(splits), ray.put(facts)
    weight_refs = {model: ray.put(sd) for model, sd in state_dicts.items() if sd is not None}
    todo = [j for j in jobs if not finished(j)]
    recorder.counts["skipped"] += len(jobs) - len(todo)
    for job in jobs:
        if job not in todo:
            recorder.log(f"{job.model} seed {job.seed}: already finished, skipping (--force to redo)")
    total = len(todo)
    inflight, attempts, begun, resumed = {}, {job: 0 for job in todo}, {}, {}
    results = {}

    def submit(job: Job) -> None:
        folder = job_dir(job)
        files = {n: (folder / n).read_bytes() for n in RESUME_FILES if (folder / n).is_file()}
        ref = remote.remote(job_args(job), splits_ref, facts_ref, weight_refs.get(job.model), files, cpus_per_job)
        inflight[ref] = job

    def progress() -> str:
        c = recorder.counts
        return f"[{c['finished'] + c['failed']}/{total} done]"

    for job in todo:
        resumed[job] = (job_dir(job) / art.CHECKPOINT).is_file()
        begun[job] = time.perf_counter()
        recorder.started(job, 1 if resumed[job] else 0)
        recorder.log(f"{progress()} {job.model} seed {job.seed}: "
                     + ("resuming from its last checkpoint" if resumed[job] else "started"))
        submit(job)
    while inflight:
        ready, _ = ray.wait(list(inflight), num_returns=1)
        ref = ready[0]
        job = inflight.pop(ref)
        try:
            out = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            message = cause.format_message() if isinstance(cause, BenchError) else f"{type(cause).__name__}: {cause}"
            recorder.failed(job, message)
            recorder.log(f"{progress()} {job.model} seed {job.seed}: failed: {message}")
            continue
        except Exception as exc:  # lost worker, node or object
            if not _lost(ray, exc):
                raise
            attempts[job] += 1
            if attempts[job] > max_retries:
                recorder.failed(job, f"{type(exc).__name__} after {max_retries} retries")
                recorder.log(f"{progress()} {job.model} seed {job.seed}: failed ({type(exc).__name__}) after "
                             f"{max_retries} retries")
                continue
            recorder.log(f"{job.model} seed {job.seed}: {type(exc).__name__}; retry {attempts[job]}/{max_retries} "
                         "from the last finished epoch")
            submit(job)
            continue
        folder = job_dir(job)
        metrics = out["metrics"]
        # metrics.json last: its presence marks the job as finished.
        for name in sorted(out["files"], key=lambda n: n == art.METRICS):
            art.write_bytes(folder / name, out["files"][name])
        where = {"node": out["node"], "pid": out["pid"]}
        if metrics["status"] == "unfinished":
            recorder.log(f"{progress()} {job.model} seed {job.seed}: epoch {metrics['epochs_run']}/{epochs(job)} "
                         f"on {out['node']} (pid {out['pid']}, {out['seconds']:.1f} s)")
            submit(job)
            continue
        results[(job.model, job.seed)] = metrics
        recorder.finished(job, metrics, time.perf_counter() - begun[job], resumed=resumed[job], where=where)
        recorder.log(f"{progress()} {job.model} seed {job.seed}: {metrics['status']} on {out['node']}"
                     + (f", test accuracy {metrics['test']['accuracy']:.4f}" if "test" in metrics else ""))
    return results
