"""How the CLI reports failures, and the request object it builds (no training)."""

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import bench.cli
from bench.cli import cli
from bench.config import ExecutorOptions
from bench.errors import EXIT_INTERNAL, BenchError
from bench.runner.request import TrainRequest, resolve_options
from conftest import assert_one_line_error


def test_bench_error_is_one_line_and_independent_of_click():
    exc = BenchError("first line\n  second   line")
    assert exc.message == "first line second line" == str(exc) == exc.format_message()
    assert exc.exit_code == 1
    assert not any(cls.__module__.startswith("click") for cls in type(exc).__mro__)


@pytest.fixture
def requests(monkeypatch):
    """run_training replaced: the requests the commands build, nothing trained."""
    seen = []
    monkeypatch.setattr(bench.cli, "run_training", lambda request: seen.append(request) or request.out)
    return seen


def test_train_builds_one_request_from_its_options(requests, tmp_path):
    result = CliRunner().invoke(cli, ["train", "mlp", "cnn", "--seeds", "0,2", "--artifacts", str(tmp_path / "a"),
                                      "--profile", "smoke", "--frozen-blocks", "2", "--epochs", "3",
                                      "--no-pretrained", "--executor", "ray", "--cpus-per-job", "2",
                                      "--gpus-per-job", "0.5"])
    assert result.exit_code == 0, result.output
    (request,) = requests
    assert request.models == ("mlp", "cnn") and request.seeds == (0, 2) and request.epochs == 3
    assert request.out == tmp_path / "a" and request.profile_name == "smoke" and request.pretrained is False
    assert request.model_settings == {"frozen_blocks": 2, "image_size": 32}
    assert request.executor == ExecutorOptions("ray", None, 2, 0.5, 2)
    assert request.command[:4] == ("bench", "train", "mlp", "cnn")


def test_all_trains_the_protocols_study(requests, tmp_path):
    result = CliRunner().invoke(cli, ["all", "--dry-run", "--artifacts", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert requests[0].models == ("mlp", "cnn", "cnn_bn", "vgg16") and requests[0].seeds == (0,)
    assert requests[0].out == tmp_path / "a"


def test_a_bug_is_named_as_one_in_one_line(monkeypatch):
    import bench.runner.run

    def broken(request):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(bench.runner.run, "plan_request", broken)
    result = CliRunner().invoke(cli, ["train", "mlp", "--dry-run"])
    line = assert_one_line_error(result, code=EXIT_INTERNAL)
    assert "internal error of bench" in line and "a bug, not a damaged file" in line
    assert "TypeError: unsupported operand" in line and "--debug" in line


def test_debug_shows_the_bugs_traceback(monkeypatch):
    import bench.runner.run

    monkeypatch.setattr(bench.runner.run, "plan_request", lambda request: 1 / 0)
    result = CliRunner().invoke(cli, ["--debug", "train", "mlp", "--dry-run"])
    assert isinstance(result.exception, ZeroDivisionError) and "internal error" not in result.output


def test_expected_errors_keep_exit_code_1(monkeypatch):
    import bench.runner.run

    def refused(request):
        raise BenchError("no such thing")

    monkeypatch.setattr(bench.runner.run, "plan_request", refused)
    assert assert_one_line_error(CliRunner().invoke(cli, ["train", "mlp", "--dry-run"])) == "Error: no such thing"


def test_ray_options_need_the_ray_executor():
    request = TrainRequest(models=("mlp",), device="cpu", executor=ExecutorOptions("local", None, 2, 0.0, 2))
    with pytest.raises(BenchError, match="need --executor ray"):
        resolve_options(request)


def test_local_options_resolve_device_and_precision():
    options, executor = resolve_options(TrainRequest(models=("mlp",), device="cpu", compile_mode="default",
                                                     executor=ExecutorOptions("local", None, 0, 0.0, 2)))
    assert (options.device, options.precision, options.compile) == ("cpu", "fp32", "default")
    assert executor == ExecutorOptions("local", None, 1, 0.0, 2)
    default = TrainRequest(models=("mlp",), profile_name="smoke", device="cpu")
    assert default.out == Path("artifacts/smoke") and resolve_options(default)[1] == ExecutorOptions()


@pytest.mark.slow
def test_the_training_commands_import_no_report_or_cluster_library():
    """`bench train/speed/verify` run where WeasyPrint, Babel, pypdf, Ray and MLflow are absent (gpu_check.sh)."""
    import subprocess

    code = ("import sys\n"
            "class Absent:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('weasyprint', 'babel', 'pypdf', 'ray', 'mlflow'):\n"
            "            raise ImportError('absent: ' + name)\n"
            "sys.meta_path.insert(0, Absent())\n"
            "import bench.runner.run, bench.runner.verify, bench.runner.speed, bench.executors.local\n"
            "from bench.cli import cli\n"
            "for args in (['train', 'mlp', 'vgg16', '--dry-run'], ['speed', '--help'], ['verify', '--help']):\n"
            "    assert cli.main(args, standalone_mode=False) in (None, 0), args\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
