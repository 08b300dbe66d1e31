"""bench.engine.env and the engine's pieces that need no training."""

import re

import pytest
import torch

from bench.engine import env
from bench.engine.train import compiled, fit, no_progress
from bench.errors import BenchError


def test_versions_name_the_libraries_and_the_cuda_stack_only_on_cuda():
    v = env.versions("cpu")
    assert {"bench", "python", "torch", "torchvision", "numpy", "scipy", "scikit-learn"} == set(v)
    assert "cuda" not in v and "gpu" not in v


def test_device_name_on_the_cpu_counts_threads():
    assert re.search(rf"CPU, {torch.get_num_threads()} threads$", env.device_name("cpu"))


def test_git_commit_is_a_commit_or_none():
    commit = env.git_commit()
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit)


def test_resolution_of_choices():
    assert env.resolve_device("cpu") == "cpu"
    assert env.resolve_device("auto") in ("cpu", "cuda")
    assert env.resolve_precision(None, "cuda") == "bf16" and env.resolve_precision(None, "cpu") == "fp32"
    with pytest.raises(BenchError, match="unknown device 'gpu'; choose one of: auto, cpu, cuda"):
        env.resolve_device("gpu")
    with pytest.raises(BenchError, match="unknown precision 'fp16'; choose one of: fp32, bf16"):
        env.resolve_precision("fp16", "cpu")


def test_uncompiled_model_is_itself():
    model = torch.nn.Linear(2, 2)
    assert compiled(model, "none") is model
    with pytest.raises(BenchError, match="unknown compile mode"):
        compiled(model, "max")


def test_the_default_progress_passes_every_batch_through_silently():
    with no_progress([1, 2, 3], "x") as batches:
        assert list(batches) == [1, 2, 3]


@pytest.mark.slow
def test_fit_shows_each_epochs_batches_through_the_callers_progress(tmp_path):
    import contextlib

    from conftest import make_tiny_splits, tiny_facts

    from bench.config import RunOptions
    from bench.protocol import get_profile, spec_for

    seen = []

    @contextlib.contextmanager
    def progress(batches, label):
        seen.append((label, len(batches)))
        yield batches

    splits = make_tiny_splits()
    fit(spec_for("mlp", get_profile("smoke"), epochs=2), splits, seed=0, options=RunOptions(), out_dir=tmp_path,
        data_facts=tiny_facts(splits), progress=progress)
    assert [label for label, _ in seen] == ["mlp s0 epoch 1/2", "mlp s0 epoch 2/2"]
    assert all(n > 0 for _, n in seen)


def test_the_engine_draws_nothing_itself():
    import bench.engine.train as train

    assert "click" not in vars(train)
