"""The bad-input matrix: every refusal is one line, the right exit code, and leaves the run directory as it was.

Cases are data: (name, how to damage a copy of a run directory, the command, a phrase of the message).
Each one hashes every file of the run directory before and after (lock files aside).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.rundir import layout as art
from bench.cli import cli
from bench.rundir.lock import LOCK_FILE, RunLock
from conftest import assert_one_line_error, tree_digest


@pytest.fixture(scope="session")
def cli_run(tmp_path_factory, cifar_root) -> Path:
    """A run directory written by the CLI itself: mlp, seed 0, smoke profile, 1 epoch, synthetic data."""
    out = tmp_path_factory.mktemp("cli-run") / "run"
    result = CliRunner().invoke(cli, ["train", "mlp", *_train_args(cifar_root, out)])
    assert result.exit_code == 0, result.output
    return out


def _train_args(cifar_root: Path, out: Path) -> list[str]:
    return ["--data-dir", str(cifar_root), "--no-verify", "--no-download", "--profile", "smoke", "--epochs", "1",
            "--device", "cpu", "--artifacts", str(out)]


# --------------------------------------------------------------------------- damage helpers


def _write(rel: str, data: bytes):
    def damage(run: Path):
        (run / rel).write_bytes(data)
    return damage


def _truncate(rel: str, keep: float = 0.5):
    def damage(run: Path):
        path = run / rel
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
    return damage


def _edit_json(rel: str, edit):
    def damage(run: Path):
        path = run / rel
        obj = json.loads(path.read_text())
        obj = edit(obj)
        path.write_text(json.dumps(obj))
    return damage


def _predictions(edit):
    def damage(run: Path):
        path = art.seed_dir(run, "mlp", 0) / art.PREDICTIONS
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
        np.savez(path.with_suffix(""), **edit(arrays))  # np.savez appends .npz
    return damage


def _set(obj, dotted: str, value):
    *head, last = dotted.split(".")
    target = obj
    for key in head:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return obj


_DELETE = object()
SEED0 = "mlp/seed-0"
CNN0 = "cnn/seed-0"


def _labels_out_of_range(a):
    a["labels"] = a["labels"].copy()
    a["labels"][0] = 10
    return a


def _shorter(a):
    return {k: v[:-5] for k, v in a.items()}


def _other_test_set(a):
    a["labels"] = np.roll(a["labels"], 1)
    return a


def _foreign_member(run: Path):
    """A seed of the same model trained under another protocol, dropped into the directory."""
    src, dst = art.seed_dir(run, "mlp", 0), art.seed_dir(run, "mlp", 7)
    shutil.copytree(src, dst)
    for name, edit in ((art.CONFIG, lambda c: _set(_set(c, "compute.seed", 7), "protocol_fingerprint", "f" * 16)),):
        path = dst / name
        path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _stranger(run: Path):
    """A member whose directory fingerprint is not the manifest's (trained elsewhere, copied in)."""
    _edit_json(f"{SEED0}/{art.CONFIG}", lambda c: _set(c, "directory_fingerprint", "0" * 16))(run)


# (case id, damage, phrase the one-line message must contain)
DAMAGED = [
    ("history-empty", _write(f"{SEED0}/{art.HISTORY}", b""), "history.csv"),
    ("history-truncated", _truncate(f"{SEED0}/{art.HISTORY}", 0.7), "history.csv"),
    ("history-garbage", _write(f"{SEED0}/{art.HISTORY}", b"\x00\xff\x00garbage"), "history.csv"),
    ("history-missing-epoch", _edit_history := None, "history.csv"),
    ("predictions-empty", _write(f"{SEED0}/{art.PREDICTIONS}", b""), "predictions.npz"),
    ("predictions-truncated", _truncate(f"{SEED0}/{art.PREDICTIONS}"), "predictions.npz"),
    ("predictions-label-10", _predictions(_labels_out_of_range), "labels outside 0-9"),
    ("predictions-short", _predictions(_shorter), "predictions.npz"),
    ("predictions-other-test-set", _predictions(_other_test_set), "another test set"),
    ("metrics-empty", _write(f"{SEED0}/{art.METRICS}", b""), "metrics.json"),
    ("metrics-truncated", _truncate(f"{SEED0}/{art.METRICS}"), "metrics.json"),
    ("metrics-list", _write(f"{SEED0}/{art.METRICS}", b"[]"), "metrics.json"),
    ("metrics-bad-status", _edit_json(f"{SEED0}/{art.METRICS}", lambda m: _set(m, "status", "great")), "status"),
    ("metrics-other-run", _edit_json(f"{SEED0}/{art.METRICS}", lambda m: _set(m, "fingerprint", "1" * 16)),
     "does not belong"),
    ("metrics-no-test", _edit_json(f"{SEED0}/{art.METRICS}", lambda m: _set(m, "test", _DELETE)), "test"),
    ("config-empty", _write(f"{SEED0}/{art.CONFIG}", b""), "config.json"),
    ("config-list", _write(f"{SEED0}/{art.CONFIG}", b"[]"), "config.json"),
    ("config-no-compute", _edit_json(f"{SEED0}/{art.CONFIG}", lambda c: _set(c, "compute", _DELETE)), "compute"),
    ("config-wrong-folder", _edit_json(f"{SEED0}/{art.CONFIG}", lambda c: _set(c, "compute.seed", 3)),
     "lies in mlp/seed-0"),
    ("manifest-truncated", _truncate(art.MANIFEST), "manifest.json"),
    ("manifest-list", _write(art.MANIFEST, b"[]"), "manifest.json"),
    ("manifest-empty-object", _write(art.MANIFEST, b"{}"), "manifest.json"),
    ("manifest-tampered-record", _edit_json(art.MANIFEST, lambda m: _set(m, "directory.torch_threads", 999)),
     "manifest.json"),
    ("dataset-missing", lambda run: (run / art.DATASET).unlink(), "dataset.json"),
    ("dataset-truncated", _truncate(art.DATASET), "dataset.json"),
    ("mixed-protocols", _foreign_member, "mixes protocols"),
    ("mixed-directory", _stranger, "mixes runs"),
]


def _drop_an_epoch(run: Path):
    path = art.seed_dir(run, "mlp", 0) / art.HISTORY
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))


DAMAGED[3] = ("history-missing-epoch", _drop_an_epoch, "epochs")


def _alias_seed(run: Path):
    """seed-01 beside seed-1: int() reads both as seed 1, which would count it twice."""
    shutil.copytree(art.seed_dir(run, "mlp", 1), run / "mlp" / "seed-01")


def _linked_seed(run: Path):
    os.symlink(art.seed_dir(run, "mlp", 1), run / "mlp" / "seed-5")


def _nan_logits(a):
    a["logits"] = a["logits"].copy()
    a["logits"][3, 0] = np.nan
    return a


DAMAGED += [
    ("seed-alias", _alias_seed, "not a seed folder bench wrote"),
    ("seed-link", _linked_seed, "is a link"),
    ("duplicate-classes", _edit_json(art.DATASET, lambda d: _set(d, "classes", ["cat"] * 10)), "distinct"),
    ("counts-not-classes", _edit_json(art.DATASET, lambda d: _set(d, "counts.test", {"x": 1})), "counts"),
    ("normalisation-text", _edit_json(art.DATASET, lambda d: _set(d, "normalisation.mean", ["a", "b", "c"])),
     "normalisation"),
    ("shape-text", _edit_json(art.DATASET, lambda d: _set(d, "shapes.train", ["a", 32, 32, 3])), "shape"),
    ("predictions-nan", _predictions(_nan_logits), "NaN or infinite"),
    ("phases-text", _edit_json(f"{SEED0}/{art.CONFIG}",
                               lambda c: _set(c, "compute.spec.phases", [{"lr": "0.1", "epochs": "1"}])), "phases"),
    ("phases-empty", _edit_json(f"{SEED0}/{art.CONFIG}", lambda c: _set(c, "compute.spec.phases", [])), "phases"),
    ("layers-ints", _edit_json(f"{SEED0}/{art.CONFIG}", lambda c: _set(c, "layers", [1, 2])), "layers"),
    ("eval-batch-zero", _edit_json(f"{SEED0}/{art.CONFIG}", lambda c: _set(c, "compute.eval_batch_size", 0)),
     "eval_batch_size"),
    ("precision-fp64", _edit_json(f"{SEED0}/{art.CONFIG}", lambda c: _set(c, "compute.precision", "fp64")),
     "precision"),
    ("manifest-model-entry-text", _edit_json(art.MANIFEST, lambda m: _set(m, "models.mlp/seed-0", "x")),
     "should be an object"),
    ("train-seconds-text", _edit_json(f"{SEED0}/{art.METRICS}", lambda m: _set(m, "train_seconds", "abc")),
     "train_seconds"),
    ("samples-not-png", _write(art.SAMPLES, b"GIF89a not a png"), "not a PNG"),
]


@pytest.fixture
def damaged_copy(tmp_path, tiny_run):
    def make(damage) -> Path:
        run = tmp_path / "run"
        shutil.copytree(tiny_run, run)
        damage(run)
        return run
    return make


@pytest.mark.slow
@pytest.mark.parametrize("damage,phrase", [c[1:] for c in DAMAGED], ids=[c[0] for c in DAMAGED])
def test_report_names_a_damaged_artifact(damaged_copy, tmp_path, damage, phrase):
    run = damaged_copy(damage)
    before = tree_digest(run)
    result = CliRunner().invoke(cli, ["report", str(run), "--out", str(tmp_path / "r.html")])
    line = assert_one_line_error(result)
    assert phrase in line
    assert tree_digest(run) == before
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "r.summary.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("damage,phrase", [DAMAGED[i][1:] for i in (0, 6, 11, 17, 25)],
                         ids=[DAMAGED[i][0] for i in (0, 6, 11, 17, 25)])
def test_verify_reads_everything_before_retraining(damaged_copy, tmp_path, damage, phrase, monkeypatch):
    from bench.engine import train

    def no_training(*a, **k):
        raise AssertionError("verify retrained before checking the artifacts")

    monkeypatch.setattr(train, "fit", no_training)
    run = damaged_copy(damage)
    before = tree_digest(run)
    result = CliRunner().invoke(cli, ["verify", str(run), "--data-dir", str(tmp_path), "--no-download"])
    line = assert_one_line_error(result)
    assert phrase in line and "identical" not in result.output
    assert tree_digest(run) == before


# --------------------------------------------------------------------------- refused commands


def _occupied(run: Path):
    """Hold the run directory's lock, as another live bench process would."""
    lock = RunLock(run).__enter__()
    return lock


TRAIN_REFUSALS = [
    # (id, extra arguments (replacing the defaults' values where repeated), phrase)
    ("other-profile", ["--profile", "full"], "not comparable"),
    ("other-precision", ["--precision", "bf16"], "not comparable"),
    ("other-epochs-same-seed", ["--epochs", "2"], "another protocol"),
    ("other-epochs-new-seed", ["--epochs", "2", "--seed", "1"], "another protocol"),
    ("other-pipeline", ["--input-pipeline", "torchvision", "--num-workers", "0"], "another protocol"),
    ("unknown-model", ["--model-name-placeholder"], "unknown model"),
    ("seed-twice", ["--seeds", "1,1"], "twice"),
    ("too-many-seeds", ["--seeds", "100000"], "between 1 and 100"),
    ("seed-too-large", ["--seeds", "0,99999999999"], "between 0 and"),
    ("negative-seed", ["--seed", "-1"], "--seed"),
    ("huge-image-size", ["--image-size", "100000"], "--image-size"),
    ("small-image-size", ["--image-size", "8"], "--image-size"),
    ("zero-epochs", ["--epochs", "0"], "--epochs"),
    ("huge-epochs", ["--epochs", "100000000"], "--epochs"),
    ("many-workers", ["--num-workers", "100000"], "--num-workers"),
    ("frozen-blocks", ["--frozen-blocks", "9"], "--frozen-blocks"),
    ("no-cuda", ["--device", "cuda"], "CUDA"),
    ("bad-device", ["--device", "tpu"], "--device"),
    ("no-data", ["--data-dir", "{tmp}/nowhere"], "CIFAR-10 not found"),
    ("checksum", ["--verify"], "checksum"),
    ("artifacts-through-file", ["--artifacts", "{tmp}/afile/run"], "is a file"),
    ("artifacts-is-file", ["--artifacts", "{tmp}/afile"], "file"),
    ("locked", ["--lock"], "in use by another bench process"),
]


@pytest.mark.slow
@pytest.mark.parametrize("extra,phrase", [c[1:] for c in TRAIN_REFUSALS], ids=[c[0] for c in TRAIN_REFUSALS])
def test_refused_training_writes_nothing(cli_run, cifar_root, tmp_path, extra, phrase):
    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    (tmp_path / "afile").write_text("not a folder")
    before = tree_digest(run)
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    models = ["mlp"]
    if "--model-name-placeholder" in extra:
        extra.remove("--model-name-placeholder")
        models = ["resnet999"]
    lock = None
    if "--lock" in extra:
        extra.remove("--lock")
        lock = _occupied(run)
    args = _train_args(cifar_root, run)
    if "--verify" in extra:
        args.remove("--no-verify")
        extra.remove("--verify")
    try:
        result = CliRunner().invoke(cli, ["train", *models, *args, *extra])
    finally:
        if lock is not None:
            lock.__exit__(None, None, None)
    line = assert_one_line_error(result, code=2 if result.exit_code == 2 else 1)
    assert phrase in line
    assert "Traceback" not in result.output
    assert tree_digest(run) == before
    if lock is not None:
        assert str(os.getpid()) in line


@pytest.mark.slow
def test_usage_errors_are_one_line_with_exit_2(cli_run, cifar_root, tmp_path):
    result = CliRunner().invoke(cli, ["train", "mlp", "--image-size", "100000", "--artifacts", str(tmp_path / "x")])
    line = assert_one_line_error(result, code=2)
    assert "32<=x<=256" in line and "bench train --help" in line


@pytest.mark.slow
def test_force_discards_a_model_trained_under_another_protocol(cli_run, cifar_root, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    result = CliRunner().invoke(cli, ["train", "mlp", *_train_args(cifar_root, run), "--epochs", "2", "--force"])
    assert result.exit_code == 0, result.output
    config = json.loads((art.seed_dir(run, "mlp", 0) / art.CONFIG).read_text())
    assert config["compute"]["spec"]["epochs"] == 2


@pytest.mark.slow
def test_disk_full_is_one_line_and_leaves_old_files(cli_run, cifar_root, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    before = tree_digest(run)

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(art.os, "replace", full)
    result = CliRunner().invoke(cli, ["train", "mlp", *_train_args(cifar_root, run), "--seed", "1"])
    line = assert_one_line_error(result)
    assert "no space left" in line
    assert tree_digest(run) == before
    assert not list(run.rglob("*.tmp"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_artifacts_folder(cifar_root, tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        line = assert_one_line_error(CliRunner().invoke(cli, ["train", "mlp", *_train_args(cifar_root, parent / "r")]))
        assert "not writable" in line
    finally:
        parent.chmod(0o755)


@pytest.mark.slow
def test_ctrl_c_in_the_first_second_exits_130(cli_run, cifar_root, tmp_path, monkeypatch):
    from bench.runner import data

    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    before = tree_digest(run)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(data, "load_cifar10", interrupted)
    result = CliRunner().invoke(cli, ["train", "mlp", *_train_args(cifar_root, run)])
    assert result.exit_code == 130 and "interrupted" in result.output and "Traceback" not in result.output
    assert tree_digest(run) == before


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    code = ("import os, sys; from bench.rundir.lock import RunLock; RunLock(sys.argv[1]).__enter__(); "
            "os.kill(os.getpid(), 9)")
    proc = subprocess.run([sys.executable, "-c", code, str(run)])
    assert proc.returncode == -signal.SIGKILL
    assert (run / LOCK_FILE).exists()  # left behind by the dead holder
    with RunLock(run):
        assert (run / LOCK_FILE).read_text().strip() == str(os.getpid())
    assert not (run / LOCK_FILE).exists()


# --------------------------------------------------------------------------- records are never lost


@pytest.mark.slow
def test_seeds_from_separate_commands_and_wall_times_survive_skips(cli_run, cifar_root, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    runner = CliRunner()
    assert runner.invoke(cli, ["train", "mlp", *_train_args(cifar_root, run), "--seed", "1"]).exit_code == 0
    manifest = json.loads((run / art.MANIFEST).read_text())
    assert manifest["seeds"] == [0, 1]
    walls = {k: v["wall_seconds"] for k, v in manifest["models"].items()}
    assert manifest["started_at"] < manifest["finished_at"] and manifest["train_wall_seconds"] > 0
    again = runner.invoke(cli, ["train", "mlp", *_train_args(cifar_root, run), "--seeds", "2"])
    assert again.exit_code == 0 and again.output.count("already finished") == 2
    manifest = json.loads((run / art.MANIFEST).read_text())
    assert {k: v["wall_seconds"] for k, v in manifest["models"].items()} == walls


@pytest.mark.slow
def test_manifest_records_what_ran(cli_run):
    manifest = json.loads((cli_run / art.MANIFEST).read_text())
    assert manifest["directory"]["device_type"] == "cpu"
    assert "cuda" not in manifest["versions"] and "gpu" not in manifest["versions"]
    assert set(manifest["versions"]) >= {"bench", "torch", "numpy", "scikit-learn"}
    assert all(v for v in manifest["versions"].values())
    assert manifest["directory"]["data"]["test"] and manifest["fingerprint"]


@pytest.mark.slow
def test_verify_says_why_bitwise_equality_is_not_expected(cli_run, cifar_root, tmp_path):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        result = CliRunner().invoke(cli, ["verify", str(cli_run), "--data-dir", str(cifar_root)])
    finally:
        torch.set_num_threads(threads)
    assert "bitwise equality is not expected" in result.output
    assert f"recorded with {threads} CPU threads, re-run with {threads + 1}" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("out,phrase", [
    ("{tmp}/afile/r.pdf", "is a file, not a folder"),
    ("{tmp}/missing/r.pdf", "does not exist"),
    ("{tmp}/r.docx", "must end in .pdf or .html"),
    ("{tmp}", "is a directory"),
])
def test_report_out_paths_are_refused_before_reading(tiny_run, tmp_path, out, phrase):
    (tmp_path / "afile").write_text("x")
    before = tree_digest(tiny_run)
    result = CliRunner().invoke(cli, ["report", str(tiny_run), "--out", out.replace("{tmp}", str(tmp_path))])
    line = assert_one_line_error(result, code=2 if out == "{tmp}" else 1)
    assert phrase in line
    assert tree_digest(tiny_run) == before


@pytest.mark.slow
def test_ray_executor_without_ray_says_how_to_install(cli_run, cifar_root, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    before = tree_digest(run)
    line = assert_one_line_error(CliRunner().invoke(cli, ["train", "mlp", *_train_args(cifar_root, run),
                                                          "--executor", "ray"]))
    assert 'pip install "bench[ray]"' in line
    assert tree_digest(run) == before


@pytest.mark.slow
def test_ray_options_need_the_ray_executor(cli_run, cifar_root, tmp_path):
    line = assert_one_line_error(CliRunner().invoke(cli, ["train", "mlp", *_train_args(cifar_root, tmp_path / "r"),
                                                          "--gpus-per-job", "0.25"]))
    assert "need --executor ray" in line



def _foreign_metrics(run: Path):
    _edit_json(f"{SEED0}/{art.METRICS}", lambda m: _set(m, "fingerprint", "2" * 16))(run)


def _forged_checkpoint(run: Path):
    import torch

    folder = art.seed_dir(run, "mlp", 0)
    state = torch.load(folder / art.CHECKPOINT, weights_only=True)
    state["epoch"] = 99
    torch.save(state, folder / art.CHECKPOINT)
    (folder / art.METRICS).unlink()
    (folder / art.PREDICTIONS).unlink()


def _garbage_checkpoint(run: Path):
    folder = art.seed_dir(run, "mlp", 0)
    (folder / art.CHECKPOINT).write_bytes(b"not a checkpoint")
    (folder / art.METRICS).unlink()


@pytest.mark.slow
@pytest.mark.parametrize("damage,phrase", [
    (_foreign_metrics, "different configuration"),
    (_forged_checkpoint, "inconsistent"),
    (_garbage_checkpoint, "corrupt checkpoint"),
], ids=["foreign-metrics", "forged-checkpoint-epoch", "garbage-checkpoint"])
def test_a_jobs_own_files_are_checked_before_the_manifest_is_written(cli_run, cifar_root, tmp_path, damage,
                                                                      phrase):
    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    damage(run)
    before = tree_digest(run)
    line = assert_one_line_error(CliRunner().invoke(cli, ["train", "mlp", *_train_args(cifar_root, run),
                                                          "--no-verify"]))
    assert phrase in line
    assert tree_digest(run) == before


@pytest.mark.parametrize("args,phrase", [
    (["--seeds", "0"], "between 1 and 100"),
    (["--artifacts", ""], "empty path"),
])
def test_more_option_refusals(cifar_root, tmp_path, args, phrase):
    result = CliRunner().invoke(cli, ["train", "mlp", *_train_args(cifar_root, tmp_path / "r"), *args])
    line = assert_one_line_error(result, code=result.exit_code if result.exit_code in (1, 2) else 1)
    assert phrase in line


def test_empty_entries_of_bench_models_from_name_nothing(monkeypatch):
    monkeypatch.setenv("BENCH_MODELS_FROM", "::")
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
