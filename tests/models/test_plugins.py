"""Own models and protocols: --models-from files and modules, entry points, TOML protocol files."""

from __future__ import annotations

import json
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.rundir import layout as art
from bench.models import registry as models
from bench.cli import cli
from conftest import assert_one_line_error, tree_digest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TINY_MODEL = '''
from torch import nn
from bench import register_model
@register_model("tinynet", title="Tiny net", description="one conv, global pool, linear", convolutional=True)
def tinynet():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 10))
'''


@pytest.fixture(autouse=True)
def clean_registry():
    """Plug-ins register globally; every test starts and ends with the built-in models only."""
    saved = models.snapshot()
    yield
    models.restore(saved)
    for name in [n for n in sys.modules if n.startswith("bench_user_models_") or n.startswith("bench_ep_demo")]:
        del sys.modules[name]


def _file(tmp_path: Path, text: str, name: str = "mine.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _train_args(cifar_root: Path, out: Path) -> list[str]:
    return ["--data-dir", str(cifar_root), "--no-verify", "--no-download", "--profile", "smoke", "--epochs", "1",
            "--device", "cpu", "--artifacts", str(out)]


def test_models_lists_the_example_resnet18_with_its_source():
    result = CliRunner().invoke(cli, ["models", "--models-from", str(EXAMPLES / "resnet18.py")])
    assert result.exit_code == 0, result.output
    assert "resnet18 ResNet-18" in result.output and "11,173,962 params" in result.output
    assert "source: file resnet18.py (sha256" in result.output and "source: built-in" in result.output


def test_example_protocol_reads_and_names_the_five_models():
    from bench.models.plugins import load_models_from, load_protocol

    load_models_from(str(EXAMPLES / "resnet18.py"))
    protocol = load_protocol(EXAMPLES / "resnet18.toml")
    assert protocol.study == ("mlp", "cnn", "cnn_bn", "vgg16", "resnet18")
    spec = protocol.specs["resnet18"]
    assert spec.optimizer == "sgd" and spec.momentum == 0.9 and spec.epochs == 30
    assert protocol.specs["mlp"] == models_study()["mlp"]  # tables not given keep the study's values


def models_study():
    from bench.protocol import STUDY

    return STUDY


def test_env_variable_lists_several_sources(tmp_path, monkeypatch):
    other = _file(tmp_path, TINY_MODEL.replace("tinynet", "othernet"), "other.py")
    mine = _file(tmp_path, TINY_MODEL)
    monkeypatch.setenv("BENCH_MODELS_FROM", f"{mine}:{other}")
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    assert "tinynet" in result.output and "othernet" in result.output


def test_module_route(tmp_path, monkeypatch):
    _file(tmp_path, TINY_MODEL, "bench_ep_demo_mod.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(cli, ["models", "--models-from", "bench_ep_demo_mod"])
    assert result.exit_code == 0, result.output
    assert "source: module bench_ep_demo_mod" in result.output


def test_entry_point_route(tmp_path, monkeypatch):
    import importlib.metadata

    _file(tmp_path, TINY_MODEL, "bench_ep_demo.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    real = importlib.metadata.entry_points

    def entry_points(**kw):
        if kw.get("group") == "bench.models.registry":
            return [EntryPoint(name="demo", value="bench_ep_demo", group="bench.models.registry")]
        return real(**kw)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    assert "tinynet" in result.output and "source: entry point bench_ep_demo" in result.output


@pytest.mark.slow
def test_plugged_model_trains_records_its_source_and_joins_a_study_directory(cifar_root, tmp_path):
    run = tmp_path / "run"
    mine = _file(tmp_path, TINY_MODEL)
    runner = CliRunner()
    assert runner.invoke(cli, ["train", "mlp", *_train_args(cifar_root, run)]).exit_code == 0
    result = runner.invoke(cli, ["train", "tinynet", "--models-from", str(mine), *_train_args(cifar_root, run)])
    assert result.exit_code == 0, result.output
    config = json.loads((art.seed_dir(run, "tinynet", 0) / art.CONFIG).read_text())
    source = config["compute"]["model_source"]
    assert source["kind"] == "file" and source["sha256"] == art.sha256_file(mine)
    assert config["title"] == "Tiny net"
    # The report shows it like a built-in model, reads it from the artifacts alone, and does not call it a departure.
    from bench.render.report import analyse, build_context, load_artifacts, render_html

    arts = load_artifacts(run)
    summary = analyse(arts)
    assert summary["models"]["tinynet"]["reference"] is None
    assert not any(d["models"] == ["tinynet"] for d in summary["departures"])
    html = render_html(build_context(arts, summary, title=None, author="", affiliation="", data_dir=None))
    assert html.count("Tiny net") >= 3
    # Editing the model's code changes its protocol: the directory refuses to mix the two.
    mine.write_text(mine.read_text().replace("nn.Conv2d(3, 8", "nn.Conv2d(3, 9").replace("nn.Linear(8", "nn.Linear(9"))
    models.restore({k: v for k, v in models.snapshot().items() if k != "tinynet"})
    before = tree_digest(run)
    line = assert_one_line_error(runner.invoke(cli, ["train", "tinynet", "--models-from", str(mine), "--seed", "1",
                                                     *_train_args(cifar_root, run)]))
    assert "another protocol" in line and "model_source" in line
    assert tree_digest(run) == before


@pytest.mark.slow
def test_protocol_file_restating_the_study_reproduces_a_builtin_run_bitwise(cifar_root, tmp_path):
    runner = CliRunner()
    printed = runner.invoke(cli, ["protocol"])
    assert printed.exit_code == 0, printed.output
    study = tmp_path / "study.toml"
    study.write_text(printed.output)
    a, b = tmp_path / "a", tmp_path / "b"
    assert runner.invoke(cli, ["train", "mlp", *_train_args(cifar_root, a)]).exit_code == 0
    result = runner.invoke(cli, ["train", "mlp", "--protocol", str(study), *_train_args(cifar_root, b)])
    assert result.exit_code == 0, result.output
    pa, pb = (art.read_predictions(art.seed_dir(r, "mlp", 0) / art.PREDICTIONS) for r in (a, b))
    assert np.array_equal(pa["logits"], pb["logits"])
    ca, cb = (json.loads((art.seed_dir(r, "mlp", 0) / art.CONFIG).read_text()) for r in (a, b))
    assert ca["fingerprint"] == cb["fingerprint"]


def test_protocol_overrides_and_study_list(cifar_root, tmp_path):
    toml = _file(tmp_path, '''
        study = ["mlp"]
        [models.mlp]
        optimizer = "adam"
        phases = [{lr = 0.002, epochs = 1}]
        [reference.mlp]
        accuracy = 0.5
    ''', "p.toml")
    result = CliRunner().invoke(cli, ["all", "--protocol", str(toml), "--dry-run", *_train_args(cifar_root,
                                                                                              tmp_path / "r")])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert list(plan["models"]) == ["mlp"]
    assert plan["models"]["mlp"]["optimizer"] == "adam" and plan["models"]["mlp"]["phases"][0]["lr"] == 0.002


BAD_PROTOCOLS = [
    ("unknown-field", "[models.mlp]\nlearning_rate = 0.1\n", "unknown field 'learning_rate'; legal fields: optimizer"),
    ("unknown-model", "[models.resnet9]\noptimizer = 'sgd'\n", "unknown model; choose one of: mlp"),
    ("bad-optimizer", "[models.mlp]\noptimizer = 'rmsprop'\n", "expected one of: sgd, adam"),
    ("phases-not-list", "[models.mlp]\nphases = 3\n", "non-empty list"),
    ("phase-keys", "[models.mlp]\nphases = [{lr = 0.1}]\n", "keys lr and epochs"),
    ("negative-lr", "[models.mlp]\nphases = [{lr = -0.1, epochs = 2}]\n", "learning rates in (0, 10]"),
    ("fractional-epochs", "[models.mlp]\nphases = [{lr = 0.1, epochs = 2.5}]\n", "whole numbers"),
    ("batch-size-text", "[models.mlp]\nbatch_size = 'big'\n", "whole number from 1 to 65536"),
    ("augment-number", "[models.mlp]\naugment = 1\n", "true or false"),
    ("momentum-range", "[models.mlp]\nmomentum = 1.5\n", "from 0 to 0.999"),
    ("top-level", "epochs = 3\n", "unknown key 'epochs'"),
    ("study-unknown", "study = ['mlp', 'nope']\n", "unknown model 'nope'"),
    ("study-twice", "study = ['mlp', 'mlp']\n", "twice"),
    ("reference-range", "[reference.mlp]\naccuracy = 51.3\n", "between 0 and 1"),
    ("not-toml", "[models.mlp\n", "not valid TOML"),
    ("reference-nan", "[reference.mlp]\naccuracy = nan\n", "between 0 and 1"),
    ("reference-inf-loss", "[reference.mlp]\nloss = inf\n", ">= 0"),
    ("reference-unknown-model", "[reference.nosuch]\naccuracy = 0.5\n", "unknown model"),
    ("lr-nan", "[models.mlp]\nphases = [{lr = nan, epochs = 2}]\n", "learning rates in (0, 10]"),
    ("reference-optimizer", "[reference.mlp]\noptimizer = 'rmsprop'\n", "expected one of: sgd, adam"),
    ("reference-phase-keys", "[reference.mlp]\nphases = [{lr = 0.1}]\n", "lr left out where the study did not"),
    ("reference-phase-epochs", "[reference.mlp]\nphases = [{epochs = 0}]\n", "phase {'epochs': 0} is not allowed"),
    ("reference-backbone", "[reference.vgg16]\nbackbone_lr_scale = 'higher'\n", 'or "lower"'),
    ("reference-unknown-key", "[reference.mlp]\nmomentum = 0.9\n", "legal: accuracy, loss, optimizer, phases"),
]


@pytest.mark.parametrize("text,phrase", [c[1:] for c in BAD_PROTOCOLS], ids=[c[0] for c in BAD_PROTOCOLS])
def test_bad_protocol_file_is_one_line_naming_it(tmp_path, text, phrase):
    path = _file(tmp_path, text, "bad.toml")
    line = assert_one_line_error(CliRunner().invoke(cli, ["protocol", "--protocol", str(path)]))
    assert "bad.toml" in line and phrase in line


BAD_MODEL_FILES = [
    ("raises-at-import", "import torch\n\n\nx = 1 / 0\n", "line 4, failed to import: ZeroDivisionError"),
    ("syntax-error", "def broken(:\n    pass\n", "line 1, failed to import: SyntaxError"),
    ("missing-module", "import not_a_real_module_xyz\n", "ModuleNotFoundError"),
    ("clash-with-builtin", TINY_MODEL.replace('"tinynet"', '"cnn"'), "clashes with the built-in model"),
    ("bad-name", TINY_MODEL.replace('"tinynet"', '"Tiny Net"'), "is not allowed"),
    ("registers-nothing", "x = 1\n", "registered no model"),
    ("sys-exit-at-import", "import sys\nsys.exit(3)\n", "failed to import: SystemExit"),
]


@pytest.mark.parametrize("text,phrase", [c[1:] for c in BAD_MODEL_FILES], ids=[c[0] for c in BAD_MODEL_FILES])
def test_bad_model_file_is_one_line_naming_it(tmp_path, text, phrase):
    path = _file(tmp_path, text)
    line = assert_one_line_error(CliRunner().invoke(cli, ["models", "--models-from", str(path)]))
    assert "mine.py" in line and phrase in line
    assert "tinynet" not in models.model_names() and "Tiny Net" not in models.model_names()


def test_missing_file_and_module(tmp_path):
    line = assert_one_line_error(CliRunner().invoke(cli, ["models", "--models-from", str(tmp_path / "none.py")]))
    assert "no such file" in line
    line = assert_one_line_error(CliRunner().invoke(cli, ["models", "--models-from", "no_such_module_abc"]))
    assert "neither a .py file nor an importable module" in line


@pytest.mark.parametrize("body,phrase", [
    ("return 3", "returned a int, not a torch nn.Module"),
    ("return nn.Linear(5, 10)", "fails on a batch of 2 CIFAR-10 images"),
    ("return nn.Sequential(nn.Flatten(), nn.Linear(3072, 100))", "returns (2, 100)"),
    ("raise RuntimeError('no GPU here')", "building model 'tinynet' failed: RuntimeError: no GPU here"),
    ("import sys; sys.exit(4)", "building model 'tinynet' failed: SystemExit"),
])
def test_bad_builder_is_refused_before_training(cifar_root, tmp_path, body, phrase):
    text = TINY_MODEL.split("def tinynet():")[0] + f"def tinynet():\n    {body}\n"
    path = _file(tmp_path, text)
    out = tmp_path / "run"
    line = assert_one_line_error(CliRunner().invoke(cli, ["train", "tinynet", "--models-from", str(path),
                                                          *_train_args(cifar_root, out)]))
    assert phrase in line
    assert not out.exists()


def test_debug_shows_the_users_traceback(tmp_path):
    path = _file(tmp_path, "x = 1 / 0\n")
    result = CliRunner().invoke(cli, ["--debug", "models", "--models-from", str(path)])
    assert isinstance(result.exception, ZeroDivisionError)


def test_a_reference_study_setup_reads_back_unchanged(tmp_path):
    # How the reference study trained (rates it did not publish left out) survives `bench protocol` and back.
    from bench.models.plugins import load_protocol, protocol_toml

    toml = _file(tmp_path, """
        [reference.vgg16]
        accuracy = 0.9
        loss = 0.3
        optimizer = "sgd"
        phases = [{epochs = 5}, {lr = 0.01, epochs = 5}]
        backbone_lr_scale = "lower"
        [reference.mlp]
        loss = 1.2
    """, "p.toml")
    protocol = load_protocol(toml)
    assert protocol.reference["vgg16"] == {"accuracy": 0.9, "loss": 0.3, "optimizer": "sgd", "backbone_lr_scale": "lower",
                                           "phases": [{"epochs": 5}, {"lr": 0.01, "epochs": 5}]}
    assert protocol.reference["mlp"] == {"loss": 1.2}  # another study: none of the built-in study's setup
    again = tmp_path / "again.toml"
    again.write_text(protocol_toml(protocol, ["mlp", "vgg16"]))
    assert load_protocol(again).reference == protocol.reference

