import json

import numpy as np
import pytest
from click.testing import CliRunner

from bench.rundir import layout as art
from bench.cli import cli, parse_seeds
from bench.errors import BenchError


@pytest.fixture
def runner():
    return CliRunner()


def _one_line_error(result, code=1):
    assert result.exit_code == code, result.output
    lines = [l for l in result.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_models_lists_every_model_with_protocol(runner):
    result = runner.invoke(cli, ["models"])
    assert result.exit_code == 0
    for name in ("mlp", "cnn", "cnn_bn", "vgg16"):
        assert name in result.output
    assert "0.1x10, 0.01x10, 0.001x10, 0.0001x10" in result.output


@pytest.mark.slow
def test_data_prints_counts_and_saves_grid(runner, cifar_root, tmp_path):
    result = runner.invoke(cli, ["data", "--data-dir", str(cifar_root), "--no-verify", "--artifacts", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "airplane" in result.output and "5,000" in result.output and "1,000" in result.output
    assert "shape train: (45000, 32, 32, 3)" in result.output
    assert "not checked (--no-verify)" in result.output
    assert (tmp_path / "samples.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "dataset.json").read_text())["counts"]["val"]


@pytest.mark.slow
def test_train_smoke_on_synthetic_data(runner, cifar_root, tmp_path):
    out = tmp_path / "arts"
    args = ["train", "mlp", "--profile", "smoke", "--device", "cpu", "--data-dir", str(cifar_root), "--no-verify",
            "--artifacts", str(out), "--seeds", "2"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    for seed in (0, 1):
        assert (art.seed_dir(out, "mlp", seed) / art.METRICS).exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seeds"] == [0, 1] and set(manifest["models"]) == {"mlp/seed-0", "mlp/seed-1"}
    assert manifest["command"][:3] == ["bench", "train", "mlp"]
    # Re-running finds both finished and retrains nothing.
    again = runner.invoke(cli, args)
    assert again.exit_code == 0 and again.output.count("already finished") == 2


@pytest.mark.slow
def test_report_command(runner, tiny_run, tmp_path):
    result = runner.invoke(cli, ["report", str(tiny_run), "--out", str(tmp_path / "r.html"), "--title", "T"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.html").exists() and (tmp_path / "r.pdf").exists() and (tmp_path / "r.summary.json").exists()


def test_dry_run_prints_the_plan(runner, tmp_path):
    result = runner.invoke(cli, ["all", "--dry-run", "--profile", "smoke", "--device", "cpu",
                                 "--artifacts", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert set(plan["models"]) == {"mlp", "cnn", "cnn_bn", "vgg16"}
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("args,message", [
    (["train", "resnet"], "unknown model 'resnet'; choose one of: mlp, cnn, cnn_bn, vgg16"),
    (["train", "mlp", "--seeds", "x"], "--seeds takes a count"),
    (["train", "mlp", "--no-download", "--data-dir", "{tmp}/none"], "CIFAR-10 not found"),
    (["report", "{tmp}/none"], "does not exist"),
    (["report", "{tmp}", "--out", "{tmp}/r.docx"], "must end in .pdf or .html"),
    (["all", "--out", "{tmp}/missing/r.pdf"], "does not exist"),
])
def test_bad_input_gives_one_line_error(runner, tmp_path, args, message):
    result = runner.invoke(cli, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert message in _one_line_error(result)


def test_cuda_without_cuda(runner, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = _one_line_error(runner.invoke(cli, ["train", "mlp", "--device", "cuda"]))
    assert "no CUDA device" in line


@pytest.mark.slow
def test_checksum_mismatch_keeps_existing_artifacts(runner, cifar_root, tmp_path):
    out = tmp_path / "arts"
    out.mkdir()
    (out / "manifest.json").write_text('{"keep": true}')
    line = _one_line_error(runner.invoke(cli, ["train", "mlp", "--data-dir", str(cifar_root),
                                               "--artifacts", str(out)]))
    assert "checksum" in line
    assert (out / "manifest.json").read_text() == '{"keep": true}'


@pytest.mark.slow
def test_interrupt_exits_130(runner, monkeypatch, cifar_root, tmp_path):
    import bench.runner.run

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench.runner.run, "run_plan", boom)
    result = runner.invoke(cli, ["train", "mlp", "--data-dir", str(cifar_root), "--no-verify",
                                 "--profile", "smoke", "--artifacts", str(tmp_path)])
    assert result.exit_code == 130 and "interrupted" in result.output


def test_parse_seeds():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,4") == [0, 4]
    assert parse_seeds("7,") == [7]
    with pytest.raises(BenchError):
        parse_seeds("1,1")


@pytest.mark.slow
def test_verify_reruns_and_compares(runner, cifar_root, tmp_path):
    out = tmp_path / "arts"
    base = ["--data-dir", str(cifar_root), "--no-verify", "--profile", "smoke", "--device", "cpu",
            "--artifacts", str(out)]
    assert runner.invoke(cli, ["train", "mlp", "--epochs", "2", *base]).exit_code == 0
    result = runner.invoke(cli, ["verify", str(out), "--data-dir", str(cifar_root)])
    assert result.exit_code == 0, result.output
    assert "mlp      seed 0: identical" in result.output
    # Tamper with the saved logits: verify must notice and fail.
    path = art.seed_dir(out, "mlp", 0) / art.PREDICTIONS
    saved = art.read_predictions(path)
    art.write_predictions(path, saved["labels"], saved["logits"] + np.float32(1e-3))
    result = runner.invoke(cli, ["verify", str(out), "--data-dir", str(cifar_root)])
    # The file is no longer the one metrics.json recorded: refused before anything is retrained.
    assert result.exit_code == 1 and "is not the predictions file" in result.output
    # A tamperer who also rewrites the recorded digest is caught by the re-run itself.
    metrics_path = path.parent / art.METRICS
    metrics = art.read_json(metrics_path)
    art.write_json(metrics_path, {**metrics, "predictions_sha256": art.sha256_file(path)})
    result = runner.invoke(cli, ["verify", str(out), "--data-dir", str(cifar_root)])
    assert result.exit_code == 1 and "different" in result.output


@pytest.mark.slow
def test_speed_prints_a_table_and_saves_json(runner, tmp_path):
    out = tmp_path / "speed.json"
    result = runner.invoke(cli, ["speed", "--device", "cpu", "--models", "mlp", "--steps", "2", "--warmup", "1",
                                 "--repeats", "2", "--num-workers", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "study img/s" in result.output and "ratio" in result.output
    assert "bound" in result.output and "vs study" in result.output
    data = json.loads(out.read_text())
    row = data["rows"][0]
    assert data["repeats"] == 2 and len(row["fast_images_per_s_runs"]) == 2 and len(row["ratio_runs"]) == 2
    assert row["fast_images_per_s"] == pytest.approx(np.median(row["fast_images_per_s_runs"]))
    # Paired: each round's fast / torchvision, then the median over rounds.
    assert row["ratio"] == pytest.approx(np.median(
        [f / t for f, t in zip(row["fast_images_per_s_runs"], row["torchvision_images_per_s_runs"])]))
    assert row["ratio_bound"] == pytest.approx(np.median(
        [c / t for c, t in zip(row["compute_images_per_s_runs"], row["torchvision_images_per_s_runs"])]))
    # The MLP has no channels_last, so the study's set-up is the torchvision measurement itself.
    assert row["study_images_per_s"] == row["torchvision_images_per_s"] and row["ratio_to_study"] == row["ratio"]
    assert data["compile"] == "none" and row["fast_warmup_seconds"] > 0


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("extra,message", [
    (["train", "resnet"], "unknown model"),
    (["train", "mlp", "--seeds", "1,1"], "lists a seed twice"),
    (["train", "vgg16", "--vgg-weights", "{tmp}/missing.pth"], "VGG16 weights file not found"),
    (["train", "vgg16", "--vgg-weights", "{tmp}/garbage.pth"], "not a readable state_dict"),
    (["train", "mlp", "--no-download", "--data-dir", "{tmp}/empty"], "CIFAR-10 not found"),
    (["train", "mlp"], "checksum"),
])
def test_bad_input_leaves_existing_artifacts_untouched(runner, tiny_run, cifar_root, tmp_path, extra, message):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    (tmp_path / "empty").mkdir()
    before = _snapshot(run)
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    if "--data-dir" not in args:
        args += ["--data-dir", str(cifar_root)]
    result = runner.invoke(cli, [*args, "--artifacts", str(run), "--profile", "smoke", "--device", "cpu"])
    assert message in _one_line_error(result)
    assert _snapshot(run) == before


@pytest.mark.slow
def test_verify_counts_identical_divergence_as_identical(tmp_path, monkeypatch):
    import dataclasses

    from bench import protocol

    from bench.protocol import Phase
    from bench.runner import verify
    from conftest import build_run, make_tiny_splits, tiny_facts

    diverging = dataclasses.replace(protocol.STUDY["mlp"], phases=(Phase(1e12, 2),))
    monkeypatch.setitem(protocol.BUILTIN.specs, "mlp", diverging)
    run = build_run(tmp_path / "run", ["mlp"], [0])
    assert json.loads((art.seed_dir(run, "mlp", 0) / art.METRICS).read_text())["status"] == "diverged"
    splits = make_tiny_splits()
    monkeypatch.setattr(verify, "prepare_data", lambda *a, **k: (None, splits, tiny_facts(splits)))
    rows, notes = verify.verify_run(run, data_dir=tmp_path, device=None, weights_path=None, download=False)
    assert [r["status"] for r in rows] == ["identical"] and notes == []
