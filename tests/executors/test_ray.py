"""The Ray executor against a real local Ray instance (no mocks): bitwise equal to local, retries, restarts.

Runs in its own tox environment (`tox -e ray`); skipped where Ray is not installed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.rundir import layout as art
from bench.cli import cli

pytestmark = pytest.mark.slow  # every test here trains

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")


def _args(cifar_root: Path, out: Path) -> list[str]:
    return ["--data-dir", str(cifar_root), "--no-verify", "--no-download", "--profile", "smoke", "--epochs", "2",
            "--device", "cpu", "--artifacts", str(out)]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, cifar_root) -> Path:
    out = tmp_path_factory.mktemp("local") / "run"
    result = CliRunner().invoke(cli, ["train", "mlp", "cnn", *_args(cifar_root, out)])
    assert result.exit_code == 0, result.output
    return out


def _same(a: Path, b: Path, model: str) -> None:
    pa, pb = (art.read_predictions(art.seed_dir(r, model, 0) / art.PREDICTIONS) for r in (a, b))
    assert np.array_equal(pa["logits"], pb["logits"]), model
    ha, hb = (art.read_history(art.seed_dir(r, model, 0) / art.HISTORY) for r in (a, b))
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in ha]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in hb], model


def _bench(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-m", "bench", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, start_new_session=True, **kw)


def _wait_for(proc: subprocess.Popen, phrase: str, lines: list[str], timeout: float = 120) -> None:
    """Read the driver's output into `lines` until some line (already read or new) holds `phrase`."""
    if any(phrase in line for line in lines):
        return
    end = time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line)
        if phrase in line:
            return
        if time.monotonic() > end:
            break
    raise AssertionError(f"never saw {phrase!r}:\n{''.join(lines)}")


def test_ray_equals_local_bitwise(local_run, cifar_root, tmp_path):
    out = tmp_path / "ray"
    result = CliRunner().invoke(cli, ["train", "mlp", "cnn", "--executor", "ray", *_args(cifar_root, out)])
    assert result.exit_code == 0, result.output
    for model in ("mlp", "cnn"):
        _same(local_run, out, model)
    import json

    manifest = json.loads((out / art.MANIFEST).read_text())
    assert manifest["executor"]["name"] == "ray" and manifest["executor"]["cluster"]["nodes"]
    assert all(entry["ran_on"]["node"] for entry in manifest["models"].values())
    assert manifest["directory"] == json.loads((local_run / art.MANIFEST).read_text())["directory"]
    assert "[2/2 done]" in result.output


def test_worker_killed_mid_epoch_is_retried_and_still_equal(local_run, cifar_root, tmp_path):
    out = tmp_path / "ray"
    proc = _bench("train", "cnn", "--executor", "ray", *_args(cifar_root, out))
    lines: list[str] = []
    try:
        _wait_for(proc, "cnn seed 0: started", lines)
        time.sleep(4)  # into the first epoch (about 12 s on 2 cores)
        victims = [p for p in psutil.process_iter(["cmdline"]) if any("ray::epoch_task" in c for c in
                                                                       (p.info["cmdline"] or []))]
        assert victims, "no Ray worker was running an epoch"
        for p in victims:
            p.kill()
        rest, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = "".join(lines) + rest
    assert proc.returncode == 0, output
    assert "retry 1/2 from the last finished epoch" in output
    _same(local_run, out, "cnn")


def test_driver_killed_then_rerun_trains_only_unfinished_jobs(local_run, cifar_root, tmp_path):
    out = tmp_path / "ray"
    proc = _bench("train", "mlp", "cnn", "--executor", "ray", *_args(cifar_root, out))
    lines: list[str] = []
    try:
        _wait_for(proc, "mlp seed 0: complete", lines)
        _wait_for(proc, "cnn seed 0: epoch 1/2", lines)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (art.seed_dir(out, "mlp", 0) / art.METRICS).exists()
    assert not (art.seed_dir(out, "cnn", 0) / art.METRICS).exists()
    assert (art.seed_dir(out, "cnn", 0) / art.CHECKPOINT).exists()  # epoch 1, written by the driver
    again = CliRunner().invoke(cli, ["train", "mlp", "cnn", "--executor", "ray", *_args(cifar_root, out)])
    assert again.exit_code == 0, again.output
    assert "mlp seed 0: already finished" in again.output
    assert "cnn seed 0: resuming from its last checkpoint" in again.output
    assert "cnn seed 0: epoch 1/2" not in again.output  # epoch 1 is not trained again
    for model in ("mlp", "cnn"):
        _same(local_run, out, model)


def test_tasks_never_touch_the_run_directory(local_run, tmp_path):
    """A task gets bytes and returns bytes; run it by hand on a copy of a job's files and check the source."""
    import inspect
    import shutil

    from bench.executors.ray import RESUME_FILES, epoch_task

    assert "out" not in inspect.signature(epoch_task).parameters
    run = tmp_path / "run"
    shutil.copytree(local_run, run)
    from conftest import tree_digest

    before = tree_digest(run)
    cfg = art.read_json(art.seed_dir(run, "mlp", 0) / art.CONFIG)
    files = {n: (art.seed_dir(run, "mlp", 0) / n).read_bytes() for n in RESUME_FILES}
    assert cfg and files
    assert tree_digest(run) == before
