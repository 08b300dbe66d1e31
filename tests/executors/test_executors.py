"""The executor interface with a fake fit: skip / force / bookkeeping decided once, for every executor."""

import pytest

from bench.config import ExecutorOptions
from bench.executors import make_executor
from bench.executors.base import Bookkeeper, Job, JobSpec, Recorder, run_jobs
from bench.executors.local import LocalExecutor
from bench.executors.ray import RayExecutor
from bench.rundir import layout as art


class FakeSpec:
    epochs = 3


def job_spec(root, jobs) -> JobSpec:
    return JobSpec(root=root, splits=None, facts={}, specs={"mlp": FakeSpec(), "cnn": FakeSpec()},
                   model_kwargs={"mlp": {}, "cnn": {"width": 2}}, state_dicts={"cnn": None},
                   weights={"cnn": {"source": "none", "sha256": None}},
                   fingerprints={j.key: f"fp-{j.key}" for j in jobs}, common={"profile": {"name": "smoke"}})


def recorder(events: list, earlier: dict | None = None) -> Recorder:
    return Recorder(started=lambda job, *, started_at, where: events.append(("started", job.key, started_at)),
                    finished=lambda job, m, *, wall_seconds, where: events.append(("finished", job.key,
                                                                                    wall_seconds)),
                    failed=lambda job, error, *, where: events.append(("failed", job.key, error)),
                    stopped=lambda job, *, wall_seconds: events.append(("stopped", job.key, wall_seconds)),
                    earlier=lambda job: (earlier or {}).get(job.key, {}), log=lambda msg: events.append(("log", msg)))


def finish(folder, fingerprint, status="complete"):
    art.write_json(folder / art.METRICS, {"fingerprint": fingerprint, "status": status})


@pytest.fixture
def fake_fit(monkeypatch):
    """bench.engine.train.fit replaced: records its arguments, 'trains' by writing metrics.json."""
    import bench.engine.train

    calls = []

    def fit(*, spec, seed, out_dir, model_kwargs, on_start, **kwargs):
        calls.append({"seed": seed, "model_kwargs": model_kwargs, **kwargs})
        on_start(0)
        if seed == 13:
            raise KeyboardInterrupt
        key = f"{out_dir.parent.name}/{out_dir.name}"
        finish(out_dir, f"fp-{key}")
        return {"status": "complete", "fingerprint": f"fp-{key}"}

    monkeypatch.setattr(bench.engine.train, "fit", fit)
    return calls


def test_local_trains_what_is_not_finished_and_skips_the_rest(tmp_path, fake_fit):
    jobs = [Job("mlp", 0), Job("mlp", 1), Job("cnn", 0)]
    spec = job_spec(tmp_path, jobs)
    finish(spec.folder(jobs[1]), "fp-mlp/seed-1")
    events = []
    results, book = run_jobs(LocalExecutor(), jobs, spec, recorder(events), force=False)
    assert book.counts == {"finished": 2, "failed": 0, "skipped": 1}
    assert set(results) == {("mlp", 0), ("mlp", 1), ("cnn", 0)}
    assert [c["seed"] for c in fake_fit] == [0, 0]
    # Weights reach the builder only for the models that have some (here a random init: None).
    assert fake_fit[0]["model_kwargs"] == {} and fake_fit[1]["model_kwargs"] == {"width": 2, "state_dict": None}
    assert fake_fit[1]["weights"] == {"source": "none", "sha256": None} and fake_fit[1]["profile"] == {"name": "smoke"}
    assert ("log", "mlp seed 1: already finished (complete), skipping (--force to redo)") in events
    assert [e[:2] for e in events if e[0] != "log"] == [("started", "mlp/seed-0"), ("finished", "mlp/seed-0"),
                                                         ("started", "cnn/seed-0"), ("finished", "cnn/seed-0")]


def test_another_fingerprint_or_an_unfinished_status_is_not_finished(tmp_path, fake_fit):
    jobs = [Job("mlp", 0), Job("mlp", 1)]
    spec = job_spec(tmp_path, jobs)
    finish(spec.folder(jobs[0]), "fp-other")
    finish(spec.folder(jobs[1]), "fp-mlp/seed-1", status="unfinished")
    assert not spec.finished(jobs[0]) and not spec.finished(jobs[1])
    _, book = run_jobs(LocalExecutor(), jobs, spec, recorder([]), force=False)
    assert book.counts["finished"] == 2 and book.counts["skipped"] == 0


def test_force_clears_a_jobs_files_before_it_runs(tmp_path, fake_fit):
    jobs = [Job("mlp", 0)]
    spec = job_spec(tmp_path, jobs)
    folder = spec.folder(jobs[0])
    finish(folder, "fp-mlp/seed-0")
    art.write_bytes(folder / art.CHECKPOINT, b"old")
    _, book = run_jobs(LocalExecutor(), jobs, spec, recorder([]), force=True)
    assert book.counts["finished"] == 1 and not (folder / art.CHECKPOINT).exists()


def test_an_interrupted_job_keeps_its_time(tmp_path, fake_fit):
    jobs = [Job("mlp", 13)]
    events = []
    with pytest.raises(KeyboardInterrupt):
        run_jobs(LocalExecutor(), jobs, job_spec(tmp_path, jobs), recorder(events), force=False)
    assert [e[:2] for e in events] == [("started", "mlp/seed-13"), ("stopped", "mlp/seed-13")]


def test_a_resumed_job_adds_its_earlier_time_and_keeps_its_first_start(tmp_path):
    jobs = [Job("mlp", 0)]
    spec = job_spec(tmp_path, jobs)
    art.write_bytes(spec.folder(jobs[0]) / art.CHECKPOINT, b"ckpt")
    events = []
    book = Bookkeeper(spec, recorder(events, earlier={"mlp/seed-0": {"started_at": "then", "wall_seconds": 100.0}}))
    assert book.started(jobs[0]) is True
    book.finished(jobs[0], {"status": "complete"})
    assert events[0] == ("started", "mlp/seed-0", "then")
    assert events[1][0] == "finished" and events[1][2] >= 100.0
    book.failed(Job("cnn", 0), "boom")
    assert book.counts == {"finished": 1, "failed": 1, "skipped": 0} and book.progress(3) == "[2/3 done]"


def test_job_spec_gives_fit_its_arguments(tmp_path):
    jobs = [Job("cnn", 4)]
    spec = job_spec(tmp_path, jobs)
    args = spec.fit_args(jobs[0])
    assert args["seed"] == 4 and args["model_kwargs"] == {"width": 2} and args["profile"] == {"name": "smoke"}
    assert spec.folder(jobs[0]) == tmp_path / "cnn" / "seed-4" and spec.epochs(jobs[0]) == 3
    assert jobs[0].key == "cnn/seed-4"


def test_make_executor_builds_each_kind_from_its_options():
    assert isinstance(make_executor(ExecutorOptions()), LocalExecutor)
    ray = make_executor(ExecutorOptions("ray", "auto", 4, 0.5, 3))
    assert isinstance(ray, RayExecutor) and (ray.address, ray.cpus_per_job, ray.gpus_per_job, ray.max_retries) == \
        ("auto", 4, 0.5, 3)
    assert LocalExecutor().record() == {"name": "local"}
    assert ray.record() == {"name": "ray", "cpus_per_job": 4, "gpus_per_job": 0.5, "max_retries": 3, "cluster": None}
