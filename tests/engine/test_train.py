import dataclasses

import numpy as np
import pytest
import torch

from bench.rundir import layout as art
from bench.errors import BenchError
from bench.protocol import Phase, get_profile, spec_for
from bench.config import RunOptions
from bench.engine.env import resolve_device, resolve_precision
from bench.engine.train import fit
from conftest import make_tiny_splits, tiny_facts


def _fit(out, spec=None, **kw):
    splits = make_tiny_splits()
    spec = spec or spec_for("mlp", get_profile("smoke"))
    return fit(spec, splits, seed=kw.pop("seed", 0), options=kw.pop("options", RunOptions()), out_dir=out,
               data_facts=tiny_facts(splits), **kw)


@pytest.mark.slow
def test_fit_writes_every_artifact(tmp_path):
    m = _fit(tmp_path)
    for name in (art.CONFIG, art.HISTORY, art.PREDICTIONS, art.METRICS, art.CHECKPOINT):
        assert (tmp_path / name).exists(), name
    hist = art.read_history(tmp_path / art.HISTORY)
    assert [r["epoch"] for r in hist] == [1, 2, 3, 4]
    assert [r["lr"] for r in hist] == pytest.approx([1e-1, 1e-2, 1e-3, 1e-4])
    assert m["status"] == "complete" and m["test"]["n"] == 100
    cfg = art.read_json(tmp_path / art.CONFIG)
    assert cfg["compute"]["spec"]["weight_decay"] == 5e-4 and cfg["compute"]["seed"] == 0
    assert cfg["compute"]["normalisation"]["mean"][0] > 0
    preds = art.read_predictions(tmp_path / art.PREDICTIONS)
    assert preds["logits"].shape == (100, 10)


@pytest.mark.slow
def test_same_seed_gives_bitwise_identical_results(tmp_path):
    _fit(tmp_path / "a", seed=3)
    _fit(tmp_path / "b", seed=3)
    _fit(tmp_path / "c", seed=4)
    a, b, c = (art.read_predictions(tmp_path / d / art.PREDICTIONS)["logits"] for d in "abc")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    ha, hb = (art.read_history(tmp_path / d / art.HISTORY) for d in "ab")
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in ha] == \
           [{k: v for k, v in r.items() if k != "seconds"} for r in hb]


@pytest.mark.slow
def test_resume_after_interrupt_equals_uninterrupted(tmp_path, monkeypatch):
    import bench.engine.train as engine

    spec = spec_for("cnn_bn", get_profile("full"), epochs=3)  # dropout and BN: RNG and buffers in play
    _fit(tmp_path / "full", spec)
    real, calls = engine.train_one_epoch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "train_one_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path / "part", spec)
    assert not (tmp_path / "part" / art.METRICS).exists()
    assert art.load_checkpoint(tmp_path / "part" / art.CHECKPOINT)["epoch"] == 2
    monkeypatch.undo()
    m = _fit(tmp_path / "part", spec)
    a, b = (art.read_predictions(tmp_path / d / art.PREDICTIONS)["logits"] for d in ("full", "part"))
    assert np.array_equal(a, b) and m["epochs_run"] == 3
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert strip(art.read_history(tmp_path / "full" / art.HISTORY)) == \
        strip(art.read_history(tmp_path / "part" / art.HISTORY))


@pytest.mark.slow
def test_finished_model_is_skipped_and_a_cleared_folder_trains_again(tmp_path):
    logs = []
    _fit(tmp_path)
    _fit(tmp_path, log=logs.append)
    assert any("already finished" in line for line in logs)
    before = (tmp_path / art.METRICS).stat().st_mtime_ns
    for name in art.SEED_FILES:  # what --force does, once, in bench.executors.base.run_jobs
        (tmp_path / name).unlink()
    _fit(tmp_path)
    assert (tmp_path / art.METRICS).stat().st_mtime_ns != before


@pytest.mark.slow
def test_different_configuration_is_refused(tmp_path):
    _fit(tmp_path)
    with pytest.raises(BenchError, match="different configuration"):
        _fit(tmp_path, seed=9)


@pytest.mark.slow
def test_corrupt_checkpoint_is_reported(tmp_path):
    _fit(tmp_path)
    (tmp_path / art.METRICS).unlink()
    (tmp_path / art.CHECKPOINT).write_bytes(b"garbage")
    with pytest.raises(BenchError, match="corrupt checkpoint.*--force"):
        _fit(tmp_path)


@pytest.mark.slow
def test_divergence_is_recorded_not_raised(tmp_path):
    spec = dataclasses.replace(spec_for("mlp", get_profile("smoke")), phases=(Phase(1e12, 2),))
    m = _fit(tmp_path, spec)
    assert m["status"] == "diverged"
    assert not (tmp_path / art.PREDICTIONS).exists()
    assert art.read_json(tmp_path / art.METRICS)["status"] == "diverged"


@pytest.mark.slow
def test_torchvision_pipeline_trains(tmp_path):
    m = _fit(tmp_path, options=RunOptions(pipeline="torchvision", num_workers=0))
    assert m["status"] == "complete"
    assert art.read_json(tmp_path / art.CONFIG)["compute"]["pipeline"] == "torchvision"


def test_device_and_precision_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(BenchError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(BenchError, match="choose one of"):
        resolve_device("tpu")
    assert resolve_precision(None, "cpu") == "fp32" and resolve_precision(None, "cuda") == "bf16"


@pytest.mark.slow
def test_compiled_model_trains_and_matches_eager(tmp_path):
    eager = _fit(tmp_path / "eager")
    comp = _fit(tmp_path / "compiled", options=RunOptions(compile="default"))
    assert comp["status"] == "complete"
    cfg = art.read_json(tmp_path / "compiled" / art.CONFIG)
    assert cfg["compute"]["compile"] == "default" and cfg["cuda_graphs"] is False
    assert cfg["fingerprint"] != art.read_json(tmp_path / "eager" / art.CONFIG)["fingerprint"]
    # Checkpoints hold the plain module's keys, so they load into an uncompiled model.
    state = art.load_checkpoint(tmp_path / "compiled" / art.CHECKPOINT)
    assert not any(k.startswith("_orig_mod") for k in state["model"])
    # Fused kernels round differently, so equal up to float32 noise, not bitwise.
    a, b = (art.read_predictions(tmp_path / d / art.PREDICTIONS)["logits"] for d in ("eager", "compiled"))
    assert np.allclose(a, b, atol=1e-3)
    assert comp["test"]["accuracy"] == pytest.approx(eager["test"]["accuracy"], abs=0.02)


def test_unknown_compile_mode_lists_the_legal_ones():
    from bench.config import CompileMode
    from bench.engine.env import resolve_compile

    assert CompileMode.values() == ("none", "default", "reduce-overhead")

    with pytest.raises(BenchError, match="choose one of: none, default, reduce-overhead"):
        resolve_compile("max")
