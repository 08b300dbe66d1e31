"""The exports' shared parts on in-memory data (no training, no tracker server): the new/update/skip plan, the
records and the run directory's identity, the digest, MLflow's bounded waits and the refusals that come before
any tracker is touched."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.errors import BenchError
from bench.export.base import (ExportRecord, ExportSummary, confusion_png, export_digest, hparams, plan_exports,
                               record_for, run_identity)
from bench.export.mlflow import (DEFAULT_TIMEOUT, NetworkLimits, check_tracking_uri, http_limits, params,
                                 probe_database)
from bench.export.tensorboard import MARKER, held_records
from bench.rundir.rundir import Artifacts, SeedRun
from conftest import CLASSES, assert_one_line_error, needs_mlflow, needs_tensorboard


A, B = "a" * 16, "b" * 16   # two run directories' identities


def invoke(*args: str):
    return CliRunner().invoke(cli, ["export", *args])


def seed_run(model: str = "mlp", seed: int = 0, path: Path = Path("."), **config) -> SeedRun:
    compute = {"seed": seed, "precision": "fp32", "pipeline": "fast", "profile": {"name": "smoke"},
               "sizes": {"train": 256}, "model_kwargs": {},
               "spec": {"optimizer": "sgd", "phases": [{"lr": 0.1, "epochs": 2}], "augment": True}}
    return SeedRun(model, seed, path, {"fingerprint": f"cfg-{model}-{seed}", "title": model.upper(),
                                       "compute": compute, "parameters": {"total": 10, "trainable": 10},
                                       **config}, [], "complete")


def record(identity: str, model: str = "mlp", seed: int = 0, digest: str | None = "d1") -> ExportRecord:
    return ExportRecord(identity=identity, fingerprint="f" * 16, model=model, seed=seed,
                        config_fingerprint=f"cfg-{model}-{seed}", digest=digest, run_dir="/runs/x")


# ----------------------------------------------------------------------------- the plan


def test_plan_new_skip_update():
    runs = [seed_run("mlp", 0), seed_run("mlp", 1), seed_run("cnn", 0)]
    wanted = [(runs[0], record(A, "mlp", 0, "same")), (runs[1], record(A, "mlp", 1, "new-digest")),
              (runs[2], record(A, "cnn", 0))]
    held = [(record(A, "mlp", 0, "same"), "h-mlp0"), (record(A, "mlp", 1, "old-digest"), "h-mlp1")]
    plan = plan_exports(wanted, held)
    assert [(s.run, s.action, s.replaces) for s in plan] == [
        (runs[0], "skip", []), (runs[1], "update", ["h-mlp1"]), (runs[2], "new", [])]
    assert [s.record for s in plan] == [w[1] for w in wanted]


def test_plan_never_touches_another_run_directory():
    """Records of another identity (another training of the same settings) are not this seed's: a new export."""
    run = seed_run()
    held = [(record(B, digest="d1"), "theirs"), (record(B, digest="other"), "theirs-too")]
    (step,) = plan_exports([(run, record(A, digest="d1"))], held)
    assert (step.action, step.replaces) == ("new", [])


def test_plan_replaces_cut_short_and_duplicate_exports():
    run = seed_run()
    # An export cut short before its digest was written: replaced.
    (step,) = plan_exports([(run, record(A))], [(record(A, digest=None), "cut")])
    assert (step.action, step.replaces) == ("update", ["cut"])
    # Two exports of the same seed (an update interrupted between logging and deleting): both replaced.
    (step,) = plan_exports([(run, record(A))], [(record(A), "one"), (record(A, digest="x"), "two")])
    assert (step.action, step.replaces) == ("update", ["one", "two"])


def test_summary_counts_what_the_plan_decided():
    runs = [seed_run("mlp", 0), seed_run("mlp", 1), seed_run("cnn", 0)]
    plan = plan_exports([(runs[0], record(A, "mlp", 0)), (runs[1], record(A, "mlp", 1, "x")),
                         (runs[2], record(A, "cnn", 0))], [(record(A, "mlp", 0), 1), (record(A, "mlp", 1), 2)])
    summary = ExportSummary(target="T", view="v")
    for step in plan:
        summary.add(step)
    assert summary.lines() == ["T: 1 new, 1 updated, 1 unchanged (skipped)", "  new: cnn/seed-0",
                               "  updated: mlp/seed-1", "  skipped: mlp/seed-0", "view with: v"]


# ----------------------------------------------------------------------------- records and identity


def test_record_round_trip_and_foreign_records():
    rec = record(A, "cnn_bn", 3)
    assert ExportRecord.from_dict(rec.to_dict()) == rec
    # MLflow tags are strings: the seed comes back as a number; a missing digest is an export cut short.
    tags = {**{k: str(v) for k, v in rec.to_dict().items()}, "digest": None}
    assert ExportRecord.from_dict(tags) == ExportRecord(**{**rec.to_dict(), "digest": None})
    # Not ours: a record without identity (a bench before identities), bad seeds, not an object.
    old_format = {k: v for k, v in rec.to_dict().items() if k != "identity"}
    for data in (old_format, {**rec.to_dict(), "seed": True}, {**rec.to_dict(), "seed": "-1"}, [1], None,
                 {**rec.to_dict(), "model": ""}):
        assert ExportRecord.from_dict(data) is None, data


def test_identity_tells_two_trainings_apart_and_survives_a_move():
    manifest = {"fingerprint": "f" * 16, "started_at": "2026-12-02T01:14:05.492+00:00", "models": {}}
    later = {**manifest, "started_at": "2026-12-03T09:00:00.000+00:00"}
    assert run_identity(manifest) != run_identity(later)
    assert run_identity(manifest) != run_identity({**manifest, "fingerprint": "e" * 16})
    # What grows as seeds are added or finish does not change whose run it is.
    grown = {**manifest, "models": {"mlp/seed-0": {"status": "complete"}}, "finished_at": "2026-12-02T02:00:00"}
    assert run_identity(grown) == run_identity(manifest)
    assert len(run_identity(manifest)) == 16


def artifacts_at(root: Path, *, started_at: str = "2026-12-02T01:14:05.492+00:00") -> Artifacts:
    seed = root / "mlp" / "seed-0"
    seed.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "history.csv", "metrics.json"):
        if not (seed / name).exists():
            (seed / name).write_text(f"{name}\n")
    manifest = {"fingerprint": "f" * 16, "started_at": started_at, "models": {"mlp/seed-0": {"status": "complete"}}}
    return Artifacts(root, manifest, {"classes": CLASSES}, None, [seed_run(path=seed)])


def test_digest_follows_the_seed_and_the_identity_not_the_path(tmp_path):
    one = artifacts_at(tmp_path / "one")
    base = export_digest(one, one.runs[0], extra={"exporter": "x"})
    moved = artifacts_at(tmp_path / "elsewhere" / "one")
    assert export_digest(moved, moved.runs[0], extra={"exporter": "x"}) == base
    assert export_digest(one, one.runs[0], extra={"exporter": "y"}) != base
    report = tmp_path / "report.html"
    report.write_text("r1")
    with_report = export_digest(one, one.runs[0], extra={"exporter": "x"}, files=[report])
    report.write_text("r2")
    assert export_digest(one, one.runs[0], extra={"exporter": "x"}, files=[report]) != with_report
    (one.runs[0].path / "history.csv").write_text("changed\n")
    assert export_digest(one, one.runs[0], extra={"exporter": "x"}) != base
    again = artifacts_at(tmp_path / "again", started_at="2027-01-01T00:00:00+00:00")
    (again.runs[0].path / "history.csv").write_text("changed\n")
    assert export_digest(again, again.runs[0], extra={"exporter": "x"}) != export_digest(
        one, one.runs[0], extra={"exporter": "x"})
    rec = record_for(one, one.runs[0], base)
    assert (rec.identity, rec.model, rec.seed, rec.digest, rec.run_dir) == (
        run_identity(one.manifest), "mlp", 0, base, str((tmp_path / "one").resolve()))


def test_tensorboard_reads_back_only_records_in_their_place(tmp_path):
    logdir = tmp_path / "tb"

    def put(rel: str, data) -> Path:
        folder = logdir / rel
        folder.mkdir(parents=True)
        (folder / MARKER).write_text(json.dumps(data) if not isinstance(data, str) else data)
        return folder

    ours = put("run-aaaaaaaa/mlp/seed-0", record(A, "mlp", 0).to_dict())
    theirs = put("run-bbbbbbbb/mlp/seed-0", record(B, "mlp", 0).to_dict())
    put("run-aaaaaaaa/cnn/seed-1", record(A, "mlp", 0).to_dict())          # moved by hand: not trusted
    put("mlp/seed-0", {k: v for k, v in record(A).to_dict().items() if k != "identity"})  # old layout and format
    put("run-aaaaaaaa/cnn/.seed-0.x1.tmp", record(A, "cnn", 0).to_dict())  # an interrupted write
    put("run-aaaaaaaa/cnn/seed-0", "{not json")
    assert held_records(logdir) == [(record(A, "mlp", 0), ours), (record(B, "mlp", 0), theirs)]
    assert held_records(tmp_path / "missing") == []


# ----------------------------------------------------------------------------- what the exports contain


def test_hparams_flatten_the_spec_and_keep_values_plain():
    hp = hparams(seed_run("cnn", 2))
    assert hp["model"] == "cnn" and hp["seed"] == 2 and hp["spec.optimizer"] == "sgd"
    assert hp["spec.phases"] == '[{"epochs":2,"lr":0.1}]' and hp["spec.augment"] is True
    assert hp["compute.profile.name"] == "smoke" and hp["compute.sizes.train"] == 256
    assert hp["parameters.total"] == 10 and "compute.seed" not in hp
    assert all(isinstance(v, (bool, int, float, str)) for v in hp.values())


def test_mlflow_params_are_the_flattened_config_within_mlflow_limits():
    run = seed_run(notes="x" * 7000, **{"odd key/with:chars": 1})
    out = params(run.config)
    assert out["compute.spec.optimizer"] == "sgd" and out["compute.spec.phases"] == '[{"epochs":2,"lr":0.1}]'
    assert out["odd key_with_chars"] == "1" and len(out["notes"]) == 6000 and out["notes"].endswith("\u2026")
    assert "compute.model_kwargs" not in out  # an empty object has no value (the run directory's one flatten)


def test_confusion_png_of_a_seed(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 10)
    run = seed_run()
    run.predictions = {"labels": labels, "predicted": np.where(rng.random(100) < 0.7, labels, (labels + 1) % 10)}
    png = confusion_png(run, CLASSES)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and min(int.from_bytes(png[16:20], "big"),
                                                       int.from_bytes(png[20:24], "big")) > 300
    run.predictions = None
    assert confusion_png(run, CLASSES) is None


# ----------------------------------------------------------------------------- MLflow's bounded waits


@pytest.mark.parametrize("total", [1, 1.5, 2, 5, 5.9, 6, 7, 30, 31, 600, 3600])
def test_http_limits_fit_the_total(total):
    limits = NetworkLimits.within(total)
    assert limits.attempt_timeout >= 1 and limits.worst_case() <= total
    env = limits.environ()
    assert int(env["MLFLOW_HTTP_REQUEST_TIMEOUT"]) == limits.attempt_timeout  # MLflow parses whole seconds
    assert int(env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) == limits.retries
    assert env["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] == "0" and env["MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER"] == "false"


def test_default_limit_is_three_attempts_within_30_s():
    limits = NetworkLimits.within(DEFAULT_TIMEOUT)
    assert (limits.retries, limits.attempt_timeout, limits.backoff()) == (2, 9, 2.0)
    assert limits.worst_case() == 29


@pytest.mark.parametrize("bad", [0, 0.5, -3, 3601, float("nan"), float("inf"), "30"])
def test_http_limits_refuse_a_bad_timeout(bad):
    with pytest.raises(BenchError, match=r"--timeout must be a number of seconds from 1 to 3600"):
        NetworkLimits.within(bad)


def test_http_limits_are_restored_after_the_export(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    with http_limits(NetworkLimits.within(30)):
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "9" and os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "120" and "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ


class FakeEngine:
    """A database engine whose connection blocks until released (a silent server) or fails at once."""

    def __init__(self, error: Exception | None = None):
        import threading

        self.error, self.release, self.disposed = error, threading.Event(), False

    def connect(self):
        if self.error is not None:
            raise self.error
        self.release.wait(60)
        raise ConnectionError("released")

    def dispose(self):
        self.disposed = True


@needs_mlflow
def test_a_silent_database_server_ends_within_the_timeout(monkeypatch):
    import time

    import sqlalchemy

    engine = FakeEngine()
    monkeypatch.setattr(sqlalchemy, "create_engine", lambda uri: engine)
    start = time.monotonic()
    try:
        with pytest.raises(BenchError, match=r"^MLflow at postgresql://u@db/m: the database server did not answer "
                                             r"within 1 s \(--timeout\)$"):
            probe_database("postgresql://u@db/m", NetworkLimits.within(1))
    finally:
        engine.release.set()
    assert time.monotonic() - start < 2


@needs_mlflow
def test_a_refusing_database_server_or_a_missing_driver_is_one_line(monkeypatch, tmp_path):
    import sqlalchemy

    engine = FakeEngine(ConnectionRefusedError("[Errno 111] Connection refused\nmore"))
    monkeypatch.setattr(sqlalchemy, "create_engine", lambda uri: engine)
    with pytest.raises(BenchError, match=r"^MLflow at mysql://db/m: ConnectionRefusedError: \[Errno 111\] "
                                         r"Connection refused more$"):
        probe_database("mysql://db/m", NetworkLimits.within(30))
    assert engine.disposed
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    with pytest.raises(BenchError, match=r"needs the Python database driver 'psycopg2?', which is not installed"):
        probe_database("postgresql://u@127.0.0.1:1/m", NetworkLimits.within(30))
    monkeypatch.chdir(tmp_path)
    probe_database("sqlite:///local.db", NetworkLimits.within(30))  # a file: nothing to wait for, nothing created
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- refusals before any tracker is touched


@needs_mlflow
@pytest.mark.parametrize("uri", ["sqlite://", "sqlite:///:memory:", "sqlite+pysqlite:///:memory:",
                                 "sqlite:///file::memory:?cache=shared&uri=true",
                                 "sqlite:///file:db?mode=memory&cache=shared&uri=true"])
def test_in_memory_sqlite_is_refused(uri, tmp_path, monkeypatch):
    with pytest.raises(BenchError, match="in-memory SQLite database"):
        check_tracking_uri(uri)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    line = assert_one_line_error(invoke("mlflow", str(tmp_path / "run"), "--tracking-uri", uri))
    assert line.startswith(f"Error: --tracking-uri {uri} is an in-memory SQLite database")
    assert [p.name for p in tmp_path.iterdir()] == ["run"] and not any((tmp_path / "run").iterdir())


@needs_mlflow
@pytest.mark.parametrize("uri", ["sqlite:///mlflow.db", "sqlite:////abs/path/m.db", "http://localhost:5000",
                                 "https://mlflow.example.org", "file:///tmp/mlruns", "mlruns",
                                 "postgresql://u@db/mlflow"])
def test_persistent_stores_pass_the_check(uri):
    check_tracking_uri(uri)


@pytest.mark.parametrize("command, hidden, message", [
    ("tensorboard", ("tensorboard", "torch.utils.tensorboard"),
     'Error: bench export tensorboard needs TensorBoard: pip install "bench[tensorboard]"'),
    ("mlflow", ("mlflow",), 'Error: bench export mlflow needs MLflow: pip install "bench[mlflow]"'),
])
def test_missing_extra_says_how_to_install(command, hidden, message, tmp_path, monkeypatch):
    for name in hidden:
        monkeypatch.setitem(sys.modules, name, None)  # `import name` now raises ImportError
    args = [command, str(tmp_path / "run")] + (["--logdir", str(tmp_path / "tb")] if command == "tensorboard" else [])
    assert assert_one_line_error(invoke(*args)) == message
    assert list(tmp_path.iterdir()) == []


@needs_mlflow
def test_mlflow_without_sqlalchemy_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    monkeypatch.chdir(tmp_path)
    line = assert_one_line_error(invoke("mlflow", str(tmp_path / "run")))
    assert line == ('Error: bench export mlflow needs SQLAlchemy and alembic for a database tracking URI: '
                    'pip install "bench[mlflow]"')
    assert list(tmp_path.iterdir()) == []


@needs_tensorboard
def test_export_refuses_a_bad_run_directory(tmp_path):
    line = assert_one_line_error(invoke("tensorboard", str(tmp_path / "missing"), "--logdir", str(tmp_path / "tb")))
    assert "does not exist" in line
    assert not (tmp_path / "tb").exists()


@pytest.mark.parametrize("bad", ["0.5", "3601", "nan", "soon"])
def test_timeout_option_is_checked_before_any_work(bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("mlflow", str(tmp_path / "missing"), "--timeout", bad)
    # NaN passes click's range check (no comparison holds); bench's finite-number check refuses it as a usage error.
    line = assert_one_line_error(result, code=2)
    assert "Invalid value for '--timeout'" in line, line
    assert list(tmp_path.iterdir()) == []
