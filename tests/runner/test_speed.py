import pytest
import torch

import bench.runner.speed as speed


@pytest.mark.parametrize("measurement,pipeline_cls,channels_last", [
    ("study", "TorchvisionLoader", False),
    ("torchvision", "TorchvisionLoader", True),
    ("fast", "DeviceLoader", True),
    ("compute", "DeviceLoader", True),
])
def test_each_measurement_feeds_what_it_claims(monkeypatch, measurement, pipeline_cls, channels_last):
    seen = []

    def fake_step(model, x, y, optimizer, *, device, precision):
        seen.append((x, next(model.parameters())))

    monkeypatch.setattr(speed, "train_step", fake_step)
    loaders = []
    real_make_loader = speed.make_loader
    monkeypatch.setattr(speed, "make_loader", lambda *a, **k: loaders.append(real_make_loader(*a, **k)) or loaders[-1])
    ips, warm = speed.train_throughput("cnn", measurement, device="cpu", precision="fp32", steps=3, warmup=1,
                                       num_workers=0, n_images=512)
    assert ips > 0 and warm >= 0 and len(seen) == 4
    assert type(loaders[0]).__name__ == pipeline_cls
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x, weight = seen[-1]
    assert x.is_contiguous(memory_format=fmt) and weight.is_contiguous(memory_format=fmt)
    # The floor re-feeds one batch; every other measurement draws a new one each step.
    same = all(s[0] is seen[0][0] for s in seen)
    assert same == (measurement == "compute")


def test_the_mlp_has_no_separate_study_measurement(monkeypatch):
    calls = []

    def fake(name, measurement, **kw):
        calls.append(measurement)
        return {"torchvision": 100.0, "fast": 600.0, "compute": 1000.0}[measurement], 0.5

    monkeypatch.setattr(speed, "train_throughput", fake)
    monkeypatch.setattr(speed, "eval_throughput", lambda name, **kw: 5000.0)
    result = speed.run_speed(["mlp"], device="cpu", precision="fp32", steps=1, warmup=0, num_workers=0, repeats=2)
    assert calls == ["torchvision", "fast", "compute"] * 2  # round-robin
    row = result["rows"][0]
    assert row["study_images_per_s"] == 100.0 and row["ratio"] == 6.0 and row["ratio_bound"] == 10.0
    assert row["fast_share_of_compute_floor"] == 0.6
    # 40 epochs of 45,000 images at 600/s plus 40 x 5,000 validation and 10,000 test images at 5,000/s.
    assert row["fast_projected_seconds"] == pytest.approx(40 * 45000 / 600 + (40 * 5000 + 10000) / 5000)
