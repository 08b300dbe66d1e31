"""Issue 24 (third round of hostile inputs), classes 1, 2, 4 and 8 through the command line.

Each refusal: exit status 1, exactly one `Error:` line, no traceback, and the run directory (and whatever a
link points at) left exactly as it was. The digest here never follows a link and never opens a FIFO.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.rundir import layout as art
from bench.rundir.lock import LOCK_FILE
from conftest import assert_one_line_error

pytestmark = pytest.mark.slow


def lstat_digest(root: Path) -> dict[str, str]:
    """Every entry under `root` without following links: files by content, links by target, others by kind."""
    out = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = Path(folder) / name
            rel, mode = str(path.relative_to(root)), os.lstat(path).st_mode
            if name.endswith(".lock"):
                continue
            if stat.S_ISLNK(mode):
                out[rel] = "link:" + os.readlink(path)
            elif stat.S_ISREG(mode):
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif not stat.S_ISDIR(mode):
                out[rel] = f"special:{stat.S_IFMT(mode)}"
    return out


# --------------------------------------------------------------------------- damage (run, outside folder)

S0, S1 = "mlp/seed-0", "mlp/seed-1"


def _link_file(rel: str):
    def damage(run: Path, outside: Path):
        target = outside / Path(rel).name
        shutil.copy(run / rel, target)
        (run / rel).unlink()
        os.symlink(target, run / rel)
    return damage


def _link_model_folder(run: Path, outside: Path):
    shutil.move(str(run / "cnn"), str(outside / "cnn"))
    os.symlink(outside / "cnn", run / "cnn")


def _fifo(rel: str):
    def damage(run: Path, outside: Path):
        (run / rel).unlink()
        os.mkfifo(run / rel)
    return damage


def _samples_link(run: Path, outside: Path):
    secret = outside / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\nnot bench's picture")
    (run / art.SAMPLES).unlink(missing_ok=True)
    os.symlink(secret, run / art.SAMPLES)


def _swap_predictions(run: Path, outside: Path):
    a, b = run / S0 / art.PREDICTIONS, run / S1 / art.PREDICTIONS
    tmp = outside / "swap.npz"
    shutil.move(a, tmp)
    shutil.move(b, a)
    shutil.move(tmp, b)


def _old_run_other_predictions(run: Path, outside: Path):
    """A run written before predictions_sha256 existed, whose predictions came from another (worse) model."""
    for seed in (0,):
        path = run / f"mlp/seed-{seed}" / art.METRICS
        metrics = json.loads(path.read_text())
        metrics.pop("predictions_sha256")
        path.write_text(json.dumps(metrics))
    pred = run / S0 / art.PREDICTIONS
    with np.load(pred) as npz:
        labels, logits = npz["labels"], npz["logits"].copy()
    logits[:, :] = 0
    logits[np.arange(len(labels)), (labels + 1) % 10] = 1  # every prediction wrong
    art.write_predictions(pred, labels, logits)


def _delete_seed(run: Path, outside: Path):
    shutil.rmtree(run / S1)


def _delete(rel: str):
    def damage(run: Path, outside: Path):
        (run / rel).unlink()
    return damage


def _manifest_accuracy(run: Path, outside: Path):
    path = run / art.MANIFEST
    manifest = json.loads(path.read_text())
    manifest["models"][S0]["test_accuracy"] = 0.99
    path.write_text(json.dumps(manifest))


def _manifest_status(run: Path, outside: Path):
    path = run / art.MANIFEST
    manifest = json.loads(path.read_text())
    manifest["models"][S0]["status"] = "diverged"
    path.write_text(json.dumps(manifest))


def _adam_with_momentum(run: Path, outside: Path):
    path = run / "cnn/seed-0" / art.CONFIG
    config = json.loads(path.read_text())
    config["compute"]["spec"]["momentum"] = 0.9  # cnn trains with Adam, which has no momentum setting
    path.write_text(json.dumps(config))


READ_REFUSALS = [
    ("adam-with-momentum", _adam_with_momentum, "which ignores it"),
    ("metrics-link", _link_file(f"{S0}/{art.METRICS}"), "metrics.json is a link"),
    ("predictions-link", _link_file(f"{S1}/{art.PREDICTIONS}"), "predictions.npz is a link"),
    ("model-folder-link", _link_model_folder, "cnn is a link"),
    ("manifest-link", _link_file(art.MANIFEST), "manifest.json is a link"),
    ("samples-link-outside", _samples_link, "samples.png is a link"),
    ("history-fifo", _fifo(f"{S0}/{art.HISTORY}"), "FIFO"),
    ("predictions-swapped", _swap_predictions, "is not the predictions file"),
    ("old-run-other-predictions", _old_run_other_predictions, "test accuracy of 0.0000"),
    ("seed-folder-deleted", _delete_seed, "records mlp seed 1 as complete"),
    ("metrics-deleted", _delete(f"{S1}/{art.METRICS}"), "metrics.json is missing"),
    ("history-deleted", _delete(f"{S1}/{art.HISTORY}"), "history.csv is missing"),
    ("predictions-deleted", _delete(f"{S1}/{art.PREDICTIONS}"), "predictions.npz"),
    ("manifest-accuracy-edited", _manifest_accuracy, "records a test accuracy"),
    ("manifest-status-edited", _manifest_status, "says complete"),
]


@pytest.fixture
def hostile_copy(tmp_path, tiny_run):
    def make(damage) -> tuple[Path, Path]:
        run, outside = tmp_path / "run", tmp_path / "outside"
        shutil.copytree(tiny_run, run)
        outside.mkdir()
        damage(run, outside)
        return run, outside
    return make


@pytest.mark.parametrize("damage,phrase", [c[1:] for c in READ_REFUSALS], ids=[c[0] for c in READ_REFUSALS])
@pytest.mark.parametrize("command", ["report", "verify", "export"])
def test_readers_refuse_links_and_damaged_records(hostile_copy, tmp_path, monkeypatch, damage, phrase, command):
    from bench.engine import train

    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("verify retrained before checking"))
    run, outside = hostile_copy(damage)
    before, before_outside = lstat_digest(run), lstat_digest(outside)
    args = {"report": ["report", str(run), "--out", str(tmp_path / "r.html")],
            "verify": ["verify", str(run), "--data-dir", str(tmp_path / "nodata"), "--no-download"],
            "export": ["export", "tensorboard", str(run), "--logdir", str(tmp_path / "tb")]}[command]
    if command == "export":
        pytest.importorskip("tensorboard")
    line = assert_one_line_error(CliRunner().invoke(cli, args))
    assert phrase in line, line
    assert lstat_digest(run) == before and lstat_digest(outside) == before_outside
    assert not list(tmp_path.glob("r.*")) and not (tmp_path / "tb").exists()


# --------------------------------------------------------------------------- writers


def _train_args(cifar_root: Path, out: Path) -> list[str]:
    return ["--data-dir", str(cifar_root), "--no-verify", "--no-download", "--profile", "smoke", "--epochs", "1",
            "--device", "cpu", "--artifacts", str(out)]


@pytest.fixture(scope="module")
def cli_mlp(tmp_path_factory, cifar_root) -> Path:
    out = tmp_path_factory.mktemp("third-round") / "run"
    result = CliRunner().invoke(cli, ["train", "mlp", *_train_args(cifar_root, out)])
    assert result.exit_code == 0, result.output
    return out


def _lock_link(run: Path, outside: Path):
    (outside / "victim.txt").write_text("keep me")
    os.symlink(outside / "victim.txt", run / LOCK_FILE)


def _seed_folder_link(run: Path, outside: Path):
    os.symlink(outside, run / "mlp" / "seed-3")


WRITE_REFUSALS = [
    # (id, damage, extra arguments, phrase)
    ("lock-link", _lock_link, [], "bench.lock is a link"),
    ("metrics-link-with-force", _link_file(f"{S0}/{art.METRICS}"), ["--force"], "metrics.json is a link"),
    ("model-folder-link", lambda run, outside: os.symlink(outside, run / "cnn"), [], "cnn is a link"),
    ("new-seed-folder-link", _seed_folder_link, ["--seeds", "0,3"], "seed-3 is a link"),
    ("history-fifo", _fifo(f"{S0}/{art.HISTORY}"), ["--force"], "FIFO"),
    ("dataset-link", _link_file(art.DATASET), [], "dataset.json is a link"),
]


@pytest.mark.parametrize("damage,extra,phrase", [c[1:] for c in WRITE_REFUSALS], ids=[c[0] for c in WRITE_REFUSALS])
def test_writers_never_follow_a_link_nor_open_a_fifo(cli_mlp, cifar_root, tmp_path, damage, extra, phrase):
    run, outside = tmp_path / "run", tmp_path / "outside"
    shutil.copytree(cli_mlp, run)
    outside.mkdir()
    damage(run, outside)
    before, before_outside = lstat_digest(run), lstat_digest(outside)
    models = ["mlp", "cnn"] if "cnn" in phrase else ["mlp"]
    line = assert_one_line_error(CliRunner().invoke(cli, ["train", *models, *_train_args(cifar_root, run), *extra]))
    assert phrase in line, line
    assert lstat_digest(run) == before and lstat_digest(outside) == before_outside


def test_a_weaker_check_never_downgrades_a_recorded_verdict(cli_mlp, cifar_root, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cli_mlp, run)
    path = run / art.DATASET
    facts = json.loads(path.read_text())
    for entry in facts["checksums"].values():
        entry.update(ok=True, sha256=entry["expected"])  # as a --verify run would have recorded
    path.write_text(json.dumps(facts))
    result = CliRunner().invoke(cli, ["train", "mlp", *_train_args(cifar_root, run), "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert all(e["ok"] is True for e in json.loads(path.read_text())["checksums"].values())
    assert all(e["ok"] is True for e in json.loads((run / art.MANIFEST).read_text())["data_checksums"].values())


LATE_MODEL = '''
from torch import nn
from bench import register_model

class Fixed(nn.Module):
    """Works on the probe's batch of 2, fails on a training batch: a hard-coded batch size."""
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3072, 10)
    def forward(self, x):
        return self.fc(x.reshape(2, -1))

@register_model("fixedbatch", title="Fixed batch", description="hard-codes a batch of 2", convolutional=False)
def fixedbatch():
    return Fixed()
'''


def test_a_users_model_failing_late_is_one_line_and_recorded_as_failed(cifar_root, tmp_path):
    plug = tmp_path / "late.py"
    plug.write_text(textwrap.dedent(LATE_MODEL))
    run = tmp_path / "run"
    args = ["train", "mlp", "fixedbatch", "--models-from", str(plug), *_train_args(cifar_root, run)]
    result = CliRunner().invoke(cli, args)
    # Training happened (mlp's progress lines come first); the command ends with one error line.
    errors = [l for l in result.output.splitlines() if l.startswith("Error: ")]
    assert result.exit_code == 1 and len(errors) == 1 and result.output.rstrip().endswith(errors[0])
    assert "Traceback" not in result.output
    line = errors[0]
    assert "late.py, line 11, model 'fixedbatch' failed while training fixedbatch/seed-0" in line, line
    assert "1 of 2 jobs failed" in line
    manifest = json.loads((run / art.MANIFEST).read_text())
    assert manifest["models"]["fixedbatch/seed-0"]["status"] == "failed"
    assert manifest["models"]["mlp/seed-0"]["status"] == "complete"  # the other job still trained
    result = CliRunner().invoke(cli, ["--debug", *args])
    assert result.exit_code == 1 and "Traceback" in result.output and "late.py" in result.output
