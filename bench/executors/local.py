"""The local executor: every job in this process, one after another (the default)."""

from __future__ import annotations

import time

from bench.executors import Job, Recorder


def run_local(jobs: list[Job], *, fit_job, recorder: Recorder) -> dict:
    """`fit_job(job, on_start=...)` trains one job into the run directory and returns its metrics."""
    results = {}
    for job in jobs:
        t0 = time.perf_counter()
        ran: list[int] = []

        def on_start(epoch: int, job=job) -> None:
            ran.append(epoch)
            recorder.started(job, epoch)

        try:
            metrics = fit_job(job, on_start=on_start)
        except BaseException:
            # Interrupted or failed mid-training: keep the time spent, so that a resumed run adds to it.
            if ran:
                recorder.stopped(job, time.perf_counter() - t0, resumed=ran[0] > 0)
            raise
        results[(job.model, job.seed)] = metrics
        if not ran:
            recorder.counts["skipped"] += 1
            continue
        recorder.finished(job, metrics, time.perf_counter() - t0, resumed=ran[0] > 0)
    return results
