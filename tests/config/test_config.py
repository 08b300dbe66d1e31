"""bench.config: the choice enums (one home for every legal value) and the option records."""

import dataclasses
import re
import subprocess
import sys

import pytest

from bench.config import (LABELS, CompileMode, Device, Executor, ExecutorOptions, Pipeline, Precision,
                          RunOptions)
from bench.errors import BenchError

ENUMS = {Device: ("auto", "cpu", "cuda"), Precision: ("fp32", "bf16"), Pipeline: ("fast", "torchvision"),
         CompileMode: ("none", "default", "reduce-overhead"), Executor: ("local", "ray")}


@pytest.mark.parametrize("enum", list(ENUMS), ids=lambda e: e.__name__)
def test_each_choice_lists_its_legal_values_in_order(enum):
    assert enum.values() == ENUMS[enum]
    # Members are their values: usable wherever a plain string is expected, printed as the value.
    assert all(m == m.value and str(m) == m.value and f"{m}" == m.value for m in enum)


@pytest.mark.parametrize("enum", list(ENUMS), ids=lambda e: e.__name__)
def test_an_illegal_value_is_one_line_that_lists_the_legal_ones(enum):
    with pytest.raises(BenchError) as info:
        enum.parse("bogus")
    assert info.value.message == f"unknown {LABELS[enum]} 'bogus'; choose one of: {', '.join(ENUMS[enum])}"
    assert enum.parse(ENUMS[enum][-1]) == ENUMS[enum][-1]
    assert enum.parse(list(enum)[0]) == ENUMS[enum][0] and type(enum.parse(list(enum)[0])) is str


def test_a_label_can_be_overridden_for_the_message():
    with pytest.raises(BenchError, match="^unknown --compile 'max'; choose one of: none, default, reduce-overhead$"):
        CompileMode.parse("max", what="--compile")


def test_run_options_round_trip_through_a_dict():
    opts = RunOptions(device="cuda", precision="bf16", pipeline="torchvision", num_workers=4, eval_batch_size=256,
                      deterministic=True, channels_last=False, compile="reduce-overhead")
    record = opts.to_dict()
    assert record == dataclasses.asdict(opts)  # the manifest's "options" keep their old shape
    assert list(record) == ["device", "precision", "pipeline", "num_workers", "eval_batch_size", "deterministic",
                            "channels_last", "compile"]
    assert RunOptions.from_dict(record) == opts
    assert RunOptions.from_dict({}) == RunOptions()


def test_executor_options_round_trip_through_a_dict():
    opts = ExecutorOptions(name="ray", address="auto", cpus_per_job=4, gpus_per_job=0.25, max_retries=0)
    assert ExecutorOptions.from_dict(opts.to_dict()) == opts
    assert ExecutorOptions().to_dict() == {"name": "local", "address": None, "cpus_per_job": 1, "gpus_per_job": 0.0,
                                           "max_retries": 2, "connect_timeout": None}


@pytest.mark.parametrize("cls,record,message", [
    (RunOptions, {"device": "tpu"}, "unknown device 'tpu'; choose one of: auto, cpu, cuda"),
    (RunOptions, {"device": "auto"}, "run options need a resolved device (cpu or cuda), not 'auto'"),
    (RunOptions, {"precision": "fp16"}, "unknown precision 'fp16'; choose one of: fp32, bf16"),
    (RunOptions, {"pipeline": "dali"}, "unknown input pipeline 'dali'; choose one of: fast, torchvision"),
    (RunOptions, {"compile": "max"}, "unknown compile mode 'max'"),
    (RunOptions, {"threads": 3}, "run options has unknown key 'threads'; legal keys: device, precision, pipeline"),
    (ExecutorOptions, {"name": "slurm"}, "unknown executor 'slurm'; choose one of: local, ray"),
    (ExecutorOptions, {"gpus": 1}, "executor options has unknown key 'gpus'; legal keys: name, address"),
    (ExecutorOptions, ["ray"], "executor options must be a mapping, got list"),
])
def test_bad_option_records_are_refused_with_the_legal_values(cls, record, message):
    with pytest.raises(BenchError, match=re.escape(message)):
        cls.from_dict(record)


def test_config_does_not_import_torch():
    # The CLI builds its choices from these enums and must start without loading torch.
    code = "import sys, bench.config, bench.protocol; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
