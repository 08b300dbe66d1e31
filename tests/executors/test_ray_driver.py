"""The Ray executor's driver loop against an in-process stand-in for Ray and a fake fit (no Ray, no training).

tests/executors/test_ray.py runs the real thing where Ray is installed; this checks the bookkeeping everywhere:
one task per epoch, files carried back into the run directory, failures recorded and the others finished.
"""

import sys
import types

import pytest

from bench.errors import BenchError
from bench.executors.base import Job, JobSpec, Recorder, run_jobs
from bench.executors.ray import RESUME_FILES, RayExecutor
from bench.rundir import layout as art


class TaskError(Exception):
    """ray.exceptions.RayTaskError: a task raised; `cause` is its exception."""

    def __init__(self, cause):
        super().__init__(str(cause))
        self.cause = cause


class Ref:
    """An object ref whose task already ran (in this process)."""

    def __init__(self, fn, args):
        try:
            self.value, self.error = fn(*args), None
        except Exception as exc:  # a task's failure reaches the driver through ray.get
            self.value, self.error = None, TaskError(exc)


class Remote:
    def __init__(self, fn):
        self.fn = fn

    def options(self, **kwargs):
        return self

    def remote(self, *args):
        return Ref(self.fn, args)


def fake_ray() -> types.ModuleType:
    ray = types.ModuleType("ray")
    ray.exceptions = types.SimpleNamespace(RayTaskError=TaskError)
    ray.util = types.SimpleNamespace(get_node_ip_address=lambda: "10.0.0.1")
    ray.init = lambda **kwargs: None
    ray.shutdown = lambda: None
    ray.nodes = lambda: [{"Alive": True, "NodeManagerAddress": "10.0.0.1", "Resources": {"CPU": 4.0, "GPU": 0.0}}]
    ray.cluster_resources = lambda: {"CPU": 4.0, "GPU": 0.0}
    ray.put = lambda value: value
    ray.remote = Remote
    ray.wait = lambda refs, num_returns: (refs[:1], refs[1:])

    def get(ref):
        if ref.error is not None:
            raise ref.error
        return ref.value

    ray.get = get
    return ray


class Spec:
    epochs = 3


@pytest.fixture
def ray_world(monkeypatch):
    """Fake Ray, and a fit that trains one 'epoch' per call: a counter in checkpoint.pt; seed 66 fails."""
    import bench.engine.train

    monkeypatch.setitem(sys.modules, "ray", fake_ray())
    seen_files = []

    def fit(*, spec, seed, out_dir, epoch_budget, **kwargs):
        assert epoch_budget == 1
        seen_files.append(sorted(p.name for p in out_dir.iterdir()))
        if seed == 66:
            raise BenchError("weights file damaged")
        ckpt = out_dir / art.CHECKPOINT
        epoch = (int(ckpt.read_text()) if ckpt.exists() else 0) + 1
        ckpt.write_text(str(epoch))
        art.write_history(out_dir / art.HISTORY, [{k: epoch for k in art.HISTORY_FIELDS}] * epoch)
        if epoch < spec.epochs:
            return {"status": "unfinished", "epochs_run": epoch}
        metrics = {"status": "complete", "fingerprint": f"fp-{out_dir.name}", "test": {"accuracy": 0.5}}
        art.write_json(out_dir / art.METRICS, metrics)
        return metrics

    monkeypatch.setattr(bench.engine.train, "fit", fit)
    return seen_files


def test_ray_driver_runs_one_task_per_epoch_and_records_each_job(tmp_path, ray_world):
    jobs = [Job("mlp", 0), Job("mlp", 66)]
    spec = JobSpec(root=tmp_path, splits=None, facts={}, specs={"mlp": Spec()}, model_kwargs={"mlp": {}},
                   state_dicts={}, weights={}, fingerprints={j.key: "fp-x" for j in jobs})
    events = []
    recorder = Recorder(started=lambda job, **k: events.append(("started", job.key)),
                        finished=lambda job, m, **k: events.append(("finished", job.key, m["status"])),
                        failed=lambda job, error, **k: events.append(("failed", job.key, error)),
                        stopped=lambda job, **k: events.append(("stopped", job.key)),
                        earlier=lambda job: {}, log=lambda msg: events.append(("log", msg)))
    executor = RayExecutor(cpus_per_job=2)
    results, book = run_jobs(executor, jobs, spec, recorder, force=False)
    assert book.counts == {"finished": 1, "failed": 1, "skipped": 0}
    assert results[("mlp", 0)]["status"] == "complete"
    assert ("failed", "mlp/seed-66", "weights file damaged") in events
    assert ("finished", "mlp/seed-0", "complete") in events
    # The driver wrote each epoch's files into the run directory; a task saw only the files it was sent.
    folder = spec.folder(jobs[0])
    assert (folder / art.CHECKPOINT).read_text() == "3" and (folder / art.METRICS).exists()
    assert all(set(files) <= set(RESUME_FILES) for files in ray_world)
    logs = [x[1] for x in events if x[0] == "log"]
    assert [line.split(" on ")[0] for line in logs if "seed 0: epoch" in line] == \
        ["[0/2 done] mlp seed 0: epoch 1/3", "[1/2 done] mlp seed 0: epoch 2/3"]
    assert "[2/2 done] mlp seed 0: complete on 10.0.0.1, test accuracy 0.5000" in logs
    assert executor.record()["cluster"]["address"] == "local" and executor.record()["cpus_per_job"] == 2


def test_ray_refuses_a_job_larger_than_any_node(tmp_path, ray_world):
    jobs = [Job("mlp", 0)]
    spec = JobSpec(root=tmp_path, splits=None, facts={}, specs={"mlp": Spec()}, model_kwargs={"mlp": {}},
                   state_dicts={}, weights={}, fingerprints={"mlp/seed-0": "fp"})
    recorder = Recorder(started=print, finished=print, failed=print, stopped=print, earlier=lambda job: {})
    with pytest.raises(BenchError, match="no Ray node has 8 CPUs"):
        run_jobs(RayExecutor(cpus_per_job=8), jobs, spec, recorder, force=False)
