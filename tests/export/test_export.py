"""`bench export tensorboard` and `bench export mlflow`, read back with the libraries' own readers.

The exporters are optional extras: a test that needs one is skipped where it is not installed
(`needs_tensorboard`, `needs_mlflow`), so plain `tox` passes without them; `tox -e integrations` installs
both. Every test here exports a trained run directory (slow); the fast ones (the plan, identities, limits,
refusals before any tracker is touched) are in test_export_plan.py.

The input is a copy of the session's `tiny_run` (mlp and cnn, seeds 0 and 1) in which
mlp seed 1 diverged (NaN validation loss, no test metrics) and cnn seed 1 is unfinished (no
metrics.json), with report files beside it, so every kind of seed goes through each exporter.
A second run directory of the same settings (`other_run`: another training, so another identity)
is exported beside it into the same logdir and experiment.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.export.base import run_identity
from bench.rundir import layout as art
from bench.rundir.checks import flatten
from bench.rundir.rundir import load_artifacts
from conftest import assert_one_line_error, needs_mlflow, needs_tensorboard, set_recorded_status, tree_digest

pytestmark = pytest.mark.slow  # every test exports the trained tiny_run

EPOCH_COLUMNS = {"train_loss": "train/loss", "train_acc": "train/accuracy", "val_loss": "val/loss",
                 "val_acc": "val/accuracy", "lr": "lr", "seconds": "time/epoch_seconds"}
TEST_KEYS = {"accuracy": "test/accuracy", "loss": "test/loss", "macro_precision": "test/macro_precision",
             "macro_recall": "test/macro_recall", "macro_f1": "test/macro_f1"}


REPORT_FILES = {"report.pdf": b"%PDF-1.7 not really\n", "report.html": b"<html>report</html>\n",
                "report.summary.json": b"{\"models\": []}\n"}


def json_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"),
                                                           ensure_ascii=False)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def invoke(*args: str):
    return CliRunner().invoke(cli, ["export", *args])


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(art.CHECKPOINT, "*.lock"))
    return dst


@pytest.fixture(scope="module")
def run_dir(tiny_run, tmp_path_factory) -> Path:
    """tiny_run with one diverged seed, one unfinished seed and report files at the top."""
    root = copy_run(tiny_run, tmp_path_factory.mktemp("export") / "study-run")
    diverged = root / "mlp" / "seed-1"
    history = art.read_history(diverged / art.HISTORY)
    history[-1]["val_loss"] = float("nan")
    art.write_history(diverged / art.HISTORY, history)
    metrics = json.loads((diverged / art.METRICS).read_text())
    metrics.update(status="diverged")
    metrics.pop("test")
    art.write_json(diverged / art.METRICS, metrics)
    (diverged / art.PREDICTIONS).unlink()
    set_recorded_status(root, "mlp", 1, "diverged")
    (root / "cnn" / "seed-1" / art.METRICS).unlink()
    set_recorded_status(root, "cnn", 1, "interrupted")
    for name, data in REPORT_FILES.items():
        (root / name).write_bytes(data)
    (root / "notes.txt").write_text("not a report file\n")
    return root


def another_training(src: Path, dst: Path) -> Path:
    """A copy of `src` posing as a second training of the same settings: the same fingerprint, started later."""
    root = copy_run(src, dst)
    manifest = json.loads((root / art.MANIFEST).read_text())
    manifest["started_at"] = "2030-01-01T00:00:00.000+00:00"
    art.write_json(root / art.MANIFEST, manifest)
    return root


def identity(root: Path) -> str:
    return run_identity(load_artifacts(root).manifest)


def seeds(root: Path):
    runs = load_artifacts(root).runs
    assert {(r.model, r.seed, r.status) for r in runs} == {
        ("mlp", 0, "complete"), ("mlp", 1, "diverged"), ("cnn", 0, "complete"), ("cnn", 1, "incomplete")}
    return runs


def summary_counts(output: str) -> tuple[int, int, int]:
    head = output.splitlines()[0]
    parts = head.split(": ", 1)[1].split(", ")
    return tuple(int(p.split()[0]) for p in parts)


# ----------------------------------------------------------------------------- TensorBoard


def read_events(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def check_tensorboard_seed(folder: Path, run, fingerprint: str) -> None:
    from tensorboard.plugins.hparams import api_pb2, metadata

    acc = read_events(folder)
    tags = acc.Tags()
    epochs = [row["epoch"] for row in run.history]
    for column, tag in EPOCH_COLUMNS.items():
        events = acc.Scalars(tag)
        assert [e.step for e in events] == epochs, tag
        for e, row in zip(events, run.history):
            assert same(e.value, float(np.float32(row[column]))), (tag, e.step, e.value, row[column])
        assert [e.wall_time for e in events] == sorted(e.wall_time for e in events)
    test = (run.metrics or {}).get("test")
    for key, tag in TEST_KEYS.items():
        if test is None:
            assert tag not in tags["scalars"]
            continue
        (event,) = acc.Scalars(tag)
        assert event.step == len(run.history) and event.value == float(np.float32(test[key])), tag

    # HParams: the seed's values, the shared experiment record, and the session's end status.
    content = acc.PluginTagToContent("hparams")
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    hp = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    compute = run.config["compute"]
    expected = {"model": run.model, "seed": run.seed, "status": run.status,
                "compute.precision": compute["precision"], "compute.pipeline": compute["pipeline"],
                "compute.device_type": compute["device_type"], "compute.profile.name": compute["profile"]["name"],
                "compute.sizes.train": compute["sizes"]["train"], "parameters.total": run.config["parameters"]["total"]}
    expected.update({f"spec.{k}": v for k, v in flatten(compute["spec"]).items()})
    for key, value in expected.items():
        if isinstance(value, bool):
            assert hp[key] is value, key
        elif isinstance(value, (int, float)):
            assert hp[key] == float(value), key
        else:
            assert hp[key] == json_text(value), key
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    assert {m.name.tag for m in experiment.metric_infos} == {"test/accuracy", "test/loss"}
    assert set(hp) <= {h.name for h in experiment.hparam_infos}
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    assert end.status == {"complete": api_pb2.STATUS_SUCCESS, "diverged": api_pb2.STATUS_FAILURE,
                          "incomplete": api_pb2.STATUS_UNKNOWN}[run.status]

    # The confusion matrix (complete seeds only) and the identifying text.
    if run.predictions is None:
        assert tags["images"] == []
    else:
        from PIL import Image
        import io

        (image,) = acc.Images("test/confusion_matrix")
        assert image.step == len(run.history)
        png = Image.open(io.BytesIO(image.encoded_image_string))
        assert png.format == "PNG" and png.size == (image.width, image.height) and min(png.size) > 300
    (text,) = acc.Tensors("bench/run/text_summary")
    body = text.tensor_proto.string_val[0].decode()
    for needle in (fingerprint, run.config["fingerprint"], f"| status | {run.status} |", f"| seed | {run.seed} |"):
        assert needle in body
    marker = json.loads((folder / "bench-export.json").read_text())
    assert (marker["fingerprint"], marker["model"], marker["seed"], marker["config_fingerprint"]) == (
        fingerprint, run.model, run.seed, run.config["fingerprint"])
    assert marker["identity"] in body and len(marker["digest"]) == 32


def run_home(logdir: Path, root: Path) -> Path:
    """Where a run directory's seeds go in a logdir: <logdir>/<folder name>-<identity[:8]>."""
    return logdir / f"{root.name}-{identity(root)[:8]}"


@needs_tensorboard
def test_tensorboard_export_reads_back(run_dir, tmp_path):
    logdir = tmp_path / "tb"
    result = invoke("tensorboard", str(run_dir), "--logdir", str(logdir))
    assert result.exit_code == 0, result.output
    assert summary_counts(result.output) == (4, 0, 0)
    assert f"view with: tensorboard --logdir {logdir}" in result.output
    runs = seeds(run_dir)
    fingerprint = load_artifacts(run_dir).manifest["fingerprint"]
    home = run_home(logdir, run_dir)
    assert [p.name for p in logdir.iterdir()] == [home.name]
    assert sorted(str(p.relative_to(home)) for p in home.glob("*/*")) == sorted(
        f"{r.model}/seed-{r.seed}" for r in runs)
    for run in runs:
        folder = home / run.model / f"seed-{run.seed}"
        assert len(list(folder.glob("events.out.tfevents.*"))) == 1
        check_tensorboard_seed(folder, run, fingerprint)
        assert json.loads((folder / "bench-export.json").read_text())["identity"] == identity(run_dir)


@needs_tensorboard
def test_tensorboard_export_twice_skips_updates_and_refuses(run_dir, tmp_path):
    root = copy_run(run_dir, tmp_path / "run")
    logdir = tmp_path / "tb"
    assert invoke("tensorboard", str(root), "--logdir", str(logdir)).exit_code == 0
    before = tree_digest(logdir)
    seed0 = f"{run_home(logdir, root).name}/mlp/seed-0/"

    again = invoke("tensorboard", str(root), "--logdir", str(logdir))
    assert again.exit_code == 0 and summary_counts(again.output) == (0, 0, 4), again.output
    assert tree_digest(logdir) == before

    # A seed that changed (here: its recorded epoch time) is replaced, the others stay as they were.
    history = art.read_history(root / "mlp" / "seed-0" / art.HISTORY)
    history[0]["seconds"] = 12.5
    art.write_history(root / "mlp" / "seed-0" / art.HISTORY, history)
    changed = invoke("tensorboard", str(root), "--logdir", str(logdir))
    assert changed.exit_code == 0 and summary_counts(changed.output) == (0, 1, 3), changed.output
    assert "updated: mlp/seed-0" in changed.output
    after = tree_digest(logdir)
    assert {k: v for k, v in after.items() if not k.startswith(seed0)} == \
           {k: v for k, v in before.items() if not k.startswith(seed0)}
    folder = logdir / seed0
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1 and not list(logdir.rglob("*.tmp"))
    assert read_events(folder).Scalars("time/epoch_seconds")[0].value == 12.5
    assert sorted(p.name for p in folder.parent.iterdir()) == ["seed-0", "seed-1"]

    # A folder in a new seed's way that bench did not write (its record gone): refused before anything is written.
    (folder.parent.parent / "cnn" / "seed-0" / "bench-export.json").unlink()
    history[0]["seconds"] = 13.5
    art.write_history(root / "mlp" / "seed-0" / art.HISTORY, history)
    frozen = tree_digest(logdir)
    line = assert_one_line_error(invoke("tensorboard", str(root), "--logdir", str(logdir)))
    assert "cnn/seed-0 already exists and was not written by bench export" in line
    assert tree_digest(logdir) == frozen


@needs_tensorboard
def test_tensorboard_two_run_directories_share_a_logdir(run_dir, tmp_path):
    """Another training of the same settings goes beside the first; neither export touches the other's."""
    first = copy_run(run_dir, tmp_path / "study-run")
    second = another_training(run_dir, tmp_path / "again" / "study-run")  # even the same folder name
    assert identity(first) != identity(second)
    logdir = tmp_path / "tb"
    assert summary_counts(invoke("tensorboard", str(first), "--logdir", str(logdir)).output) == (4, 0, 0)
    first_files = tree_digest(logdir)

    result = invoke("tensorboard", str(second), "--logdir", str(logdir))
    assert result.exit_code == 0 and summary_counts(result.output) == (4, 0, 0), result.output
    both = tree_digest(logdir)
    assert {k: v for k, v in both.items() if k in first_files} == first_files
    assert sorted(p.name for p in logdir.iterdir()) == sorted([run_home(logdir, first).name,
                                                               run_home(logdir, second).name])
    assert len(list(logdir.glob("*/*/seed-*/events.out.tfevents.*"))) == 8

    # Each re-export is idempotent; a change to one run directory updates only its own export.
    for root in (first, second):
        assert summary_counts(invoke("tensorboard", str(root), "--logdir", str(logdir)).output) == (0, 0, 4)
    assert tree_digest(logdir) == both
    (second / "report.html").write_text("<html>new</html>\n")  # not in a TensorBoard export: still unchanged
    history = art.read_history(second / "cnn" / "seed-0" / art.HISTORY)
    history[0]["seconds"] = 3.25
    art.write_history(second / "cnn" / "seed-0" / art.HISTORY, history)
    assert summary_counts(invoke("tensorboard", str(second), "--logdir", str(logdir)).output) == (0, 1, 3)
    assert {k: v for k, v in tree_digest(logdir).items() if k in first_files} == first_files


# ----------------------------------------------------------------------------- MLflow


@pytest.fixture(scope="module")
def mlflow_home(run_dir, tmp_path_factory):
    """A working directory holding the default tracking store (sqlite:///mlflow.db) after one export."""
    home = tmp_path_factory.mktemp("mlflow-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        result = invoke("mlflow", str(run_dir))
    assert result.exit_code == 0, result.output
    return home, result.output


@pytest.fixture
def client(mlflow_home, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(mlflow_home[0])  # MLflow keeps the artifacts in ./mlruns beside the database
    return MlflowClient(f"sqlite:///{mlflow_home[0] / 'mlflow.db'}")


def active_runs(client, experiment: str):
    from mlflow.entities import ViewType

    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], run_view_type=ViewType.ACTIVE_ONLY)


def artifact_names(client, run_id: str, path: str | None = None) -> dict[str, int | None]:
    out = {}
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            out.update(artifact_names(client, run_id, info.path))
        else:
            out[info.path] = info.file_size
    return out


@needs_mlflow
def test_mlflow_export_reads_back(run_dir, mlflow_home, client, tmp_path):
    home, output = mlflow_home
    assert (home / "mlflow.db").is_file()
    assert summary_counts(output) == (4, 0, 0) and "MLflow experiment 'study-run' at sqlite:///mlflow.db" in output
    artifacts = load_artifacts(run_dir)
    fingerprint = artifacts.manifest["fingerprint"]
    exported = {(r.data.tags["bench.model"], int(r.data.tags["bench.seed"])): r for r in active_runs(client, "study-run")}
    assert set(exported) == {(r.model, r.seed) for r in artifacts.runs}
    for run in seeds(run_dir):
        ml = exported[(run.model, run.seed)]
        tags = ml.data.tags
        assert ml.info.run_name == f"{run.model}/seed-{run.seed}"
        assert (tags["bench.fingerprint"], tags["bench.config_fingerprint"], tags["bench.status"]) == (
            fingerprint, run.config["fingerprint"], run.status)
        assert tags["bench.identity"] == run_identity(artifacts.manifest)
        assert len(tags["bench.export_digest"]) == 32
        assert ml.info.status == {"complete": "FINISHED", "diverged": "FAILED", "incomplete": "KILLED"}[run.status]

        # Every value of config.json, flattened (the run directory's one flatten: an empty object has no
        # value to show, so an empty compute.model_kwargs is no parameter), as text.
        expected = {k: json_text(v) for k, v in flatten(run.config).items()}
        assert "compute.model_kwargs" not in expected
        assert ml.data.params == expected

        for column, key in EPOCH_COLUMNS.items():
            history = sorted(client.get_metric_history(ml.info.run_id, key), key=lambda m: m.step)
            assert [m.step for m in history] == [row["epoch"] for row in run.history], key
            for m, row in zip(history, run.history):
                assert same(m.value, row[column]), (key, m.step, m.value, row[column])
        test = (run.metrics or {}).get("test")
        for field, key in TEST_KEYS.items():
            if test is None:
                assert key not in ml.data.metrics
            else:
                (m,) = client.get_metric_history(ml.info.run_id, key)
                assert (m.step, m.value) == (len(run.history), test[field]), key

        files = artifact_names(client, ml.info.run_id)
        expected_files = {"config.json", "history.csv"} | {f"report/{n}" for n in REPORT_FILES}
        if run.metrics is not None:
            expected_files.add("metrics.json")
        if run.predictions is not None:
            expected_files.add("confusion_matrix.png")
        assert set(files) == expected_files
        for name in ("config.json", "history.csv", "metrics.json"):
            if name in files:
                assert files[name] == (run.path / name).stat().st_size
        for name, data in REPORT_FILES.items():
            assert files[f"report/{name}"] == len(data)
    one = exported[("mlp", 0)]
    local = client.download_artifacts(one.info.run_id, "metrics.json", str(tmp_path))
    assert Path(local).read_bytes() == (run_dir / "mlp" / "seed-0" / art.METRICS).read_bytes()


@needs_mlflow
def test_mlflow_export_twice_skips_and_replaces(run_dir, mlflow_home, client, tmp_path):
    from mlflow.entities import ViewType

    root = copy_run(run_dir, tmp_path / "other-run")
    args = ("mlflow", str(root), "--tracking-uri", f"sqlite:///{mlflow_home[0] / 'mlflow.db'}",
            "--experiment", "twice")
    assert summary_counts(invoke(*args).output) == (4, 0, 0)
    ids = {r.info.run_id for r in active_runs(client, "twice")}

    again = invoke(*args)
    assert again.exit_code == 0 and summary_counts(again.output) == (0, 0, 4), again.output
    assert {r.info.run_id for r in active_runs(client, "twice")} == ids

    # One seed changed: only its run is replaced (the old one deleted), nothing duplicated.
    history = art.read_history(root / "cnn" / "seed-0" / art.HISTORY)
    history[1]["seconds"] = 7.25
    art.write_history(root / "cnn" / "seed-0" / art.HISTORY, history)
    changed = invoke(*args)
    assert summary_counts(changed.output) == (0, 1, 3) and "updated: cnn/seed-0" in changed.output
    now = active_runs(client, "twice")
    assert len(now) == 4 and len({r.info.run_id for r in now} - ids) == 1
    replaced = next(r for r in now if r.info.run_id not in ids)
    assert replaced.data.tags["bench.model"] == "cnn" and replaced.data.tags["bench.seed"] == "0"
    assert [m.value for m in client.get_metric_history(replaced.info.run_id, "time/epoch_seconds")
            if m.step == 2] == [7.25]
    exp = client.get_experiment_by_name("twice")
    assert len(client.search_runs([exp.experiment_id], run_view_type=ViewType.DELETED_ONLY)) == 1

    # A rewritten report changes every seed's artifacts: all four replaced, still four runs.
    (root / "report.html").write_text("<html>new report</html>\n")
    rewritten = invoke(*args)
    assert summary_counts(rewritten.output) == (0, 4, 0), rewritten.output
    assert len(active_runs(client, "twice")) == 4
    # The first experiment (another run directory, same fingerprint) was left alone.
    assert len(active_runs(client, "study-run")) == 4


@needs_mlflow
def test_mlflow_refuses_a_deleted_experiment(run_dir, mlflow_home, client):
    uri = f"sqlite:///{mlflow_home[0] / 'mlflow.db'}"
    client.delete_experiment(client.create_experiment("gone"))
    line = assert_one_line_error(invoke("mlflow", str(run_dir), "--tracking-uri", uri, "--experiment", "gone"))
    assert "experiment 'gone' is deleted" in line


@needs_mlflow
def test_mlflow_bad_tracking_uri_is_one_line(run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = assert_one_line_error(invoke("mlflow", str(run_dir), "--tracking-uri", "nosuchscheme://x"))
    assert line.startswith("Error: MLflow at nosuchscheme://x: ")


@needs_mlflow
def test_mlflow_two_run_directories_share_an_experiment(run_dir, mlflow_home, client, tmp_path):
    """Another training of the same settings is logged beside the first; neither export deletes the other's."""
    from mlflow.entities import ViewType

    first = copy_run(run_dir, tmp_path / "first")
    second = another_training(run_dir, tmp_path / "second")
    uri = f"sqlite:///{mlflow_home[0] / 'mlflow.db'}"
    args = lambda root: ("mlflow", str(root), "--tracking-uri", uri, "--experiment", "shared")  # noqa: E731
    assert summary_counts(invoke(*args(first)).output) == (4, 0, 0)
    first_ids = {r.info.run_id for r in active_runs(client, "shared")}
    result = invoke(*args(second))
    assert result.exit_code == 0 and summary_counts(result.output) == (4, 0, 0), result.output
    runs = active_runs(client, "shared")
    assert len(runs) == 8 and first_ids <= {r.info.run_id for r in runs}
    assert {r.data.tags["bench.identity"] for r in runs} == {identity(first), identity(second)}

    # Re-exporting either is idempotent; a change to one replaces only its own run.
    for root in (first, second):
        assert summary_counts(invoke(*args(root)).output) == (0, 0, 4)
    history = art.read_history(first / "mlp" / "seed-0" / art.HISTORY)
    history[0]["seconds"] = 4.5
    art.write_history(first / "mlp" / "seed-0" / art.HISTORY, history)
    assert summary_counts(invoke(*args(first)).output) == (0, 1, 3)
    assert summary_counts(invoke(*args(second)).output) == (0, 0, 4)
    exp = client.get_experiment_by_name("shared")
    (deleted,) = client.search_runs([exp.experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert deleted.info.run_id in first_ids and deleted.data.tags["bench.identity"] == identity(first)
    assert len(active_runs(client, "shared")) == 8
