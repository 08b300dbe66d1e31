"""`bench speed`: training throughput of the two input pipelines, side by side in one run.

Pixel values do not change the cost of a step, so the benchmark uses random images of
CIFAR-10's shape and needs no dataset. Each (model, pipeline) pair runs `warmup` steps
that are not timed (allocator, cuDNN autotuning, DataLoader worker start-up) and then
`steps` timed steps; CUDA is synchronised at both ends of the timed region only.
A third measurement re-feeds one fixed batch: the compute floor that no input
pipeline can beat, which shows how much of a step the pipeline still costs.
"""

from __future__ import annotations

import itertools
import os
import time

import numpy as np
import torch

from .data import make_loader
from .models import create_model, get_entry
from .protocol import STUDY
from .train import make_optimizer, predict, train_step

TRAIN_IMAGES, VAL_IMAGES, TEST_IMAGES = 45000, 5000, 10000


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


def train_throughput(name: str, pipeline: str, *, device: str, precision: str, steps: int, warmup: int,
                     num_workers: int, n_images: int = 8192) -> float:
    """Training images per second of `name` fed by `pipeline` (warm-up excluded)."""
    spec = STUDY[name]
    torch.manual_seed(0)
    conv = get_entry(name).convolutional
    model = create_model(name).to(device=device, memory_format=torch.channels_last if conv else torch.contiguous_format)
    optimizer, _ = make_optimizer(model, spec)
    images, labels = _images(n_images)
    loader = make_loader("fast" if pipeline == "compute" else pipeline, images, labels, mean=[0.5] * 3, std=[0.25] * 3, batch_size=spec.batch_size,
                         device=torch.device(device), augment=True, shuffle=True, seed=0, num_workers=num_workers,
                         channels_last=conv)
    model.train()

    def batches():
        if pipeline == "compute":
            x, y = next(iter(loader))
            while True:  # one fixed batch: the step's cost without any input pipeline
                yield x, y
        for epoch in itertools.count():
            loader.set_epoch(epoch)
            yield from loader

    stream = batches()
    for _ in range(warmup):
        x, y = next(stream)
        train_step(model, x, y, optimizer, device=device, precision=precision)
    _sync(device)
    t0 = time.perf_counter()
    seen = 0
    for _ in range(steps):
        x, y = next(stream)
        train_step(model, x, y, optimizer, device=device, precision=precision)
        seen += len(y)
    _sync(device)
    return seen / (time.perf_counter() - t0)


def eval_throughput(name: str, *, device: str, precision: str, batch_size: int = 1024, n_images: int = 4096) -> float:
    conv = get_entry(name).convolutional
    model = create_model(name).to(device=device, memory_format=torch.channels_last if conv else torch.contiguous_format)
    images, labels = _images(n_images, seed=1)
    loader = make_loader("fast", images, labels, mean=[0.5] * 3, std=[0.25] * 3, batch_size=batch_size,
                         device=torch.device(device), channels_last=conv)
    predict(model, loader, device=device, precision=precision)  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    predict(model, loader, device=device, precision=precision)
    _sync(device)
    return n_images / (time.perf_counter() - t0)


def run_speed(models: list[str], *, device: str, precision: str, steps: int, warmup: int, num_workers: int,
              pipelines: tuple[str, ...] = ("torchvision", "fast", "compute"), log=None) -> dict:
    """Throughput per model and pipeline; "compute" re-feeds one batch, the floor any pipeline can reach."""
    log = log or (lambda msg: None)
    rows = []
    for name in models:
        spec = STUDY[name]
        row = {"model": name, "epochs": spec.epochs}
        for pipeline in pipelines:
            ips = train_throughput(name, pipeline, device=device, precision=precision, steps=steps,
                                   warmup=warmup, num_workers=num_workers)
            row[f"{pipeline}_images_per_s"] = ips
            log(f"{name:<7} {pipeline:<12} {ips:10.0f} images/s")
        row["eval_images_per_s"] = eval_throughput(name, device=device, precision=precision)
        eval_seconds = (spec.epochs * VAL_IMAGES + TEST_IMAGES) / row["eval_images_per_s"]
        for pipeline in [p for p in pipelines if p != "compute"]:
            row[f"{pipeline}_projected_seconds"] = (spec.epochs * TRAIN_IMAGES / row[f"{pipeline}_images_per_s"]
                                                    + eval_seconds)
        row["ratio"] = row["fast_images_per_s"] / row["torchvision_images_per_s"]
        if "compute_images_per_s" in row:
            row["fast_share_of_compute_floor"] = row["fast_images_per_s"] / row["compute_images_per_s"]
        rows.append(row)
    totals = {f"{p}_projected_seconds": sum(r[f"{p}_projected_seconds"] for r in rows)
              for p in pipelines if p != "compute"}
    return {"device": device, "precision": precision, "steps": steps, "warmup": warmup, "num_workers": num_workers,
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "rows": rows, "totals": totals}


def format_table(result: dict) -> str:
    head = (f"{'model':<8}{'torchvision img/s':>19}{'fast img/s':>12}{'ratio':>8}{'floor img/s':>13}"
            f"{'fast/floor':>11}{'full protocol (tv)':>20}{'(fast)':>10}")
    lines = [head, "-" * len(head)]
    for r in result["rows"]:
        lines.append(f"{r['model']:<8}{r['torchvision_images_per_s']:>19,.0f}{r['fast_images_per_s']:>12,.0f}"
                     f"{r['ratio']:>7.2f}x{r['compute_images_per_s']:>13,.0f}"
                     f"{r['fast_share_of_compute_floor']:>10.0%} {_fmt(r['torchvision_projected_seconds']):>20}"
                     f"{_fmt(r['fast_projected_seconds']):>10}")
    t = result["totals"]
    lines.append(f"{'total':<8}{'':>63}{_fmt(t['torchvision_projected_seconds']):>20}"
                 f"{_fmt(t['fast_projected_seconds']):>10}")
    return "\n".join(lines)


def _fmt(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 600 else f"{seconds / 60:.1f}min"
