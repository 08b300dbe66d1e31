"""Issue 24, classes 4 and 7 before any training (fast): register_model checks its arguments, a model that
would fail only while training is refused up front, and protocol files that cannot mean anything are refused
with what to do. Every case goes through the command line: exit status, one `Error:` line."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.models import registry as models
from conftest import assert_one_line_error


@pytest.fixture(autouse=True)
def clean_registry():
    saved = models.snapshot()
    yield
    models.restore(saved)
    for name in [n for n in sys.modules if n.startswith("bench_user_models_")]:
        del sys.modules[name]


HEAD = "import torch\nfrom torch import nn\nfrom bench import register_model\n"
NET = "nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))"


def _file(tmp_path: Path, body: str, name: str = "mine.py") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + textwrap.dedent(body))
    return path


REGISTRATIONS = [
    ("name-with-newline", f'@register_model("tiny\\n", title="T", description="d", convolutional=False)\n'
                          f"def b():\n    return {NET}\n", "is not allowed"),
    ("title-not-text", f'@register_model("tiny", title=3, description="d", convolutional=False)\n'
                       f"def b():\n    return {NET}\n", "title must be"),
    ("title-control-char", f'@register_model("tiny", title="T\\x07", description="d", convolutional=False)\n'
                           f"def b():\n    return {NET}\n", "control characters"),
    ("convolutional-text", f'@register_model("tiny", title="T", description="d", convolutional="yes")\n'
                           f"def b():\n    return {NET}\n", "convolutional must be True or False"),
    ("same-name-twice", f'@register_model("tiny", title="T", description="d", convolutional=False)\n'
                        f"def a():\n    return {NET}\n"
                        f'@register_model("tiny", title="T", description="d", convolutional=False)\n'
                        f"def b():\n    return {NET}\n", "registers model 'tiny' twice"),
    ("keyboard-interrupt", "raise KeyboardInterrupt\n", "failed to import: KeyboardInterrupt"),
]


@pytest.mark.parametrize("body,phrase", [c[1:] for c in REGISTRATIONS], ids=[c[0] for c in REGISTRATIONS])
def test_register_model_checks_every_argument(tmp_path, body, phrase):
    path = _file(tmp_path, body)
    line = assert_one_line_error(CliRunner().invoke(cli, ["models", "--models-from", str(path)]))
    assert phrase in line and "mine.py" in line


LATE_FAILURES = [
    ("integer-outputs", "class M(nn.Module):\n    def forward(self, x):\n"
                        "        return torch.zeros(len(x), 10, dtype=torch.long)\n", "floating-point logits"),
    ("no-parameters", "class M(nn.Module):\n    def forward(self, x):\n        return x.flatten(1)[:, :10]\n",
     "no trainable parameters"),
    ("frozen", f"class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
               f"        self.net = {NET}\n        self.net.requires_grad_(False)\n"
               f"    def forward(self, x):\n        return self.net(x)\n", "no trainable parameters"),
    ("fails-in-train-mode", f"class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                            f"        self.net = {NET}\n    def forward(self, x):\n"
                            f"        if self.training:\n            raise RuntimeError('train mode is broken')\n"
                            f"        return self.net(x)\n", "fails in a training step"),
]


@pytest.mark.parametrize("body,phrase", [c[1:] for c in LATE_FAILURES], ids=[c[0] for c in LATE_FAILURES])
def test_models_that_would_fail_while_training_are_refused_up_front(tmp_path, body, phrase):
    path = _file(tmp_path, body + '@register_model("tiny", title="T", description="d", convolutional=False)\n'
                                  "def b():\n    return M()\n")
    line = assert_one_line_error(CliRunner().invoke(cli, ["models", "--models-from", str(path)]))
    assert phrase in line and "mine.py" in line and "'tiny'" in line


def test_the_probe_leaves_the_model_and_random_draws_as_they_were(tmp_path):
    import torch

    path = _file(tmp_path, '@register_model("tiny", title="T", description="d", convolutional=False)\n'
                           "def b():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3072, 10), "
                           "nn.BatchNorm1d(10), nn.Dropout(0.5))\n")
    from bench.models.plugins import load_models_from

    load_models_from(str(path))
    torch.manual_seed(0)
    model = models.create_model("tiny")
    after = torch.rand(3)
    torch.manual_seed(0)
    plain = models.get_entry("tiny").builder()
    assert torch.equal(after, torch.rand(3))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), plain.state_dict().values()))


PROTOCOLS = [
    ("momentum-with-adam", b'[models.cnn]\nmomentum = 0.9\n', "has no effect with optimizer 'adam'"),
    ("adam-over-sgd-momentum", b'[models.mlp]\noptimizer = "sgd"\nmomentum = 0.9\n[models.cnn]\noptimizer = "adam"\n'
                               b'momentum = 0.5\n', "remove momentum"),
    ("note-with-newline", b'[models.mlp]\nnote = "first\\nsecond"\n', "no control characters or newlines"),
    ("unknown-model-with-newline", b'[models."mlp\\n"]\nepochs = 1\n', "unknown model"),
    ("byte-order-mark", b'\xef\xbb\xbfstudy = ["mlp"]\n', "byte-order mark"),
    ("not-utf8", b'study = ["ml\xff"]\n', "not UTF-8"),
    ("deeply-nested", b"x = " + b"[" * 100000 + b"]" * 100000 + b"\n", "nested too deeply"),
    ("oversized", b"# " + b"x" * (1 << 20) + b"\n", "too large"),
]


@pytest.mark.parametrize("data,phrase", [c[1:] for c in PROTOCOLS], ids=[c[0] for c in PROTOCOLS])
def test_protocol_files_that_cannot_mean_anything(tmp_path, data, phrase):
    path = tmp_path / "p.toml"
    path.write_bytes(data)
    result = CliRunner().invoke(cli, ["protocol", "--protocol", str(path)])
    line = assert_one_line_error(result)
    assert phrase in line


def test_a_fifo_or_folder_where_a_file_belongs(tmp_path):
    fifo = tmp_path / "p.toml"
    os.mkfifo(fifo)
    line = assert_one_line_error(CliRunner().invoke(cli, ["protocol", "--protocol", str(fifo)]))
    assert "not a regular file" in line
    (tmp_path / "models.py").mkdir()
    line = assert_one_line_error(CliRunner().invoke(cli, ["models", "--models-from", str(tmp_path / "models.py")]))
    assert "a folder" in line


@pytest.mark.parametrize("env", ["BENCH_DATA_DIR", "BENCH_VGG16_WEIGHTS", "BENCH_MODELS_FROM"])
def test_empty_environment_variables_are_refused_by_name(env, tmp_path):
    result = CliRunner().invoke(cli, ["train", "mlp", "--dry-run", "--artifacts", str(tmp_path / "r")],
                                env={env: ""})
    line = assert_one_line_error(result, code=2)
    assert env in line and "empty" in line


@pytest.mark.parametrize("args,phrase", [
    (["--executor", "ray", "--gpus-per-job", "nan"], "not a finite number"),
    (["--executor", "ray", "--ray-timeout", "inf"], "--ray-timeout"),
    (["--ray-address", ""], "--ray-address is empty"),
    (["--ray-timeout", "3"], "need --executor ray"),
])
def test_option_values_that_pass_a_range_check_but_mean_nothing(args, phrase, tmp_path):
    result = CliRunner().invoke(cli, ["train", "mlp", "--dry-run", "--artifacts", str(tmp_path / "r"), *args])
    line = assert_one_line_error(result, code=result.exit_code if result.exit_code in (1, 2) else 1)
    assert phrase in line
    assert not (tmp_path / "r").exists()
