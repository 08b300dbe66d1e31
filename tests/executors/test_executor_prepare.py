"""Issue 24, class 3: what only the executor can know is checked before anything is written (fast; no Ray
needed: an in-process stand-in where the Ray module is asked for)."""

from __future__ import annotations

import socket
import sys
import time
import types

import pytest

from bench.config import ExecutorOptions
from bench.errors import BenchError
from bench.executors.base import Job
from bench.executors.ray import RayExecutor
from bench.models import registry as models
from conftest import make_tiny_splits, tiny_data, tiny_facts


@pytest.fixture
def fake_ray(monkeypatch):
    ray = types.ModuleType("ray")
    ray.init = lambda **kwargs: pytest.fail("ray.init reached")
    ray.shutdown = lambda: None
    monkeypatch.setitem(sys.modules, "ray", ray)
    return ray


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the with-block ends: nobody listens there


def test_a_cluster_that_does_not_answer_is_refused_within_the_timeout(fake_ray):
    port = _closed_port()
    executor = RayExecutor(address=f"127.0.0.1:{port}", connect_timeout=0.5)
    t0 = time.perf_counter()
    with pytest.raises(BenchError, match=r"does not answer within 0.5 s.*--ray-timeout"):
        executor.prepare([Job("mlp", 0)], None)
    assert time.perf_counter() - t0 < 5


def test_plugged_in_models_are_refused_up_front_with_the_reason(tmp_path):
    saved = models.snapshot()
    try:
        models.loading_from({"kind": "file", "path": "mine.py", "sha256": "0" * 64})
        models.register_model("mine", title="Mine", description="d", convolutional=False)(lambda: None)
        models.loading_from(None)
        with pytest.raises(BenchError, match=r"cannot train plugged-in models yet \(mine\).*--executor local"):
            RayExecutor().prepare([Job("mine", 0), Job("mlp", 0)], None)
    finally:
        models.restore(saved)


def test_a_refusal_of_the_executor_creates_nothing(fake_ray, tmp_path):
    from bench.config import RunOptions
    from bench.protocol import get_profile
    from bench.runner.plan import plan_training, resolve_weights
    from bench.runner.run import run_plan

    splits = make_tiny_splits()
    out = tmp_path / "new" / "run"
    plan = plan_training(["mlp"], [0], data=tiny_data(splits), splits=splits, facts=tiny_facts(splits),
                         profile=get_profile("smoke"), options=RunOptions(), out=out,
                         weights=resolve_weights(["mlp"], path=None, pretrained=False, download=False))
    options = ExecutorOptions("ray", f"127.0.0.1:{_closed_port()}", 1, 0.0, 2, 0.5)
    with pytest.raises(BenchError, match="does not answer"):
        run_plan(plan, force=False, log=None, command=["bench"], executor=options)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("field,value", [("gpus_per_job", float("nan")), ("connect_timeout", float("inf")),
                                         ("gpus_per_job", -1.0)])
def test_executor_options_refuse_values_that_pass_a_range_check(field, value):
    with pytest.raises(BenchError, match="finite number"):
        ExecutorOptions("ray", **{field: value})
