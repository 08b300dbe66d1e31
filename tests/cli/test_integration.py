"""The smoke profile end to end on the real CIFAR-10 (skipped unless BENCH_DATA_DIR is set)."""

import json
import os

import pytest

from click.testing import CliRunner

from bench.rundir import layout as art
from bench.cli import cli

pytestmark = pytest.mark.slow  # every test here trains


def test_bench_all_smoke_on_real_data(real_data_dir, tmp_path):
    out = tmp_path / "arts"
    args = ["all", "--profile", "smoke", "--device", "cpu", "--data-dir", str(real_data_dir),
            "--artifacts", str(out), "--out", str(out / "report.pdf")]  # inside the run dir it creates
    if not os.environ.get("BENCH_VGG16_WEIGHTS"):
        args.append("--no-pretrained")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    for model in ("mlp", "cnn", "cnn_bn", "vgg16"):
        d = art.seed_dir(out, model, 0)
        for name in (art.CONFIG, art.HISTORY, art.PREDICTIONS, art.METRICS, art.CHECKPOINT):
            assert (d / name).exists(), (model, name)
        assert json.loads((d / art.METRICS).read_text())["test"]["n"] == 1000
    facts = json.loads((out / art.DATASET).read_text())
    assert facts["checksums"]["train"]["ok"] and facts["checksums"]["test"]["ok"]
    assert (out / "report.pdf").stat().st_size > 100_000
    assert (out / "report.html").exists() and (out / "report.summary.json").exists()
