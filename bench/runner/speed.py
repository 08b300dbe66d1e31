"""`bench speed`: training throughput of the two input pipelines, side by side in one run.

Pixel values do not change the cost of a step, so the benchmark uses random images of
CIFAR-10's shape and needs no dataset. Each (model, pipeline) pair runs `warmup` steps
that are not timed (allocator, cuDNN autotuning, DataLoader worker start-up) and then
`steps` timed steps; CUDA is synchronised at both ends of the timed region only.
A third measurement re-feeds one fixed batch: the compute floor that no input
pipeline can beat, so floor / torchvision bounds the ratio any pipeline could reach.
A fourth, "study", is the study's own set-up: the torchvision pipeline feeding
contiguous NCHW tensors; for convolutional models it differs from "torchvision" by
channels_last alone, which separates what the layout buys from what the pipeline buys.
"""

from __future__ import annotations

import itertools
import os
import time

import numpy as np
import torch

from bench.data.pipelines import make_loader
from bench.models.registry import create_model, get_entry
from bench.protocol import STUDY
from bench.engine.train import compiled, make_optimizer, predict, train_step

TRAIN_IMAGES, VAL_IMAGES, TEST_IMAGES = 45000, 5000, 10000


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


# Measurement name -> (input pipeline, whether conv nets get channels_last).
MEASUREMENTS = {
    "study": ("torchvision", False),
    "torchvision": ("torchvision", True),
    "fast": ("fast", True),
    "compute": ("fast", True),  # one fixed batch re-fed: no input pipeline at all
}


def train_throughput(name: str, measurement: str, *, device: str, precision: str, steps: int, warmup: int,
                     num_workers: int, compile_mode: str = "none", n_images: int = 8192) -> tuple[float, float]:
    """Training images per second of `name` under `measurement` (see MEASUREMENTS), warm-up excluded,
    and the warm-up's seconds (where torch.compile's compilation time shows)."""
    spec = STUDY[name]
    torch.manual_seed(0)
    pipeline, layout = MEASUREMENTS[measurement]
    conv = get_entry(name).convolutional and layout
    model = create_model(name).to(device=device, memory_format=torch.channels_last if conv else torch.contiguous_format)
    optimizer, _ = make_optimizer(model, spec)
    runner = compiled(model, compile_mode)
    images, labels = _images(n_images)
    loader = make_loader(pipeline, images, labels, mean=[0.5] * 3, std=[0.25] * 3, batch_size=spec.batch_size,
                         device=torch.device(device), augment=True, shuffle=True, seed=0, num_workers=num_workers,
                         channels_last=conv)
    model.train()

    def batches():
        if measurement == "compute":
            x, y = next(iter(loader))
            while True:  # one fixed batch: the step's cost without any input pipeline
                yield x, y
        for epoch in itertools.count():
            loader.set_epoch(epoch)
            yield from loader

    stream = batches()
    t_warm = time.perf_counter()
    for _ in range(warmup):
        x, y = next(stream)
        train_step(runner, x, y, optimizer, device=device, precision=precision)
    _sync(device)
    t0 = time.perf_counter()
    seen = 0
    for _ in range(steps):
        x, y = next(stream)
        train_step(runner, x, y, optimizer, device=device, precision=precision)
        seen += len(y)
    _sync(device)
    return seen / (time.perf_counter() - t0), t0 - t_warm


def eval_throughput(name: str, *, device: str, precision: str, compile_mode: str = "none", batch_size: int = 1024,
                    n_images: int = 4096) -> float:
    conv = get_entry(name).convolutional
    model = create_model(name).to(device=device, memory_format=torch.channels_last if conv else torch.contiguous_format)
    model = compiled(model, compile_mode)
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
              compile_mode: str = "none", repeats: int = 1, log=None) -> dict:
    """Throughput per model and measurement (see MEASUREMENTS), plus the ratios that compare them.

    With `repeats` > 1 the measurements of a model run round-robin, so slow drifts of a shared
    machine hit all of them alike; the table reports medians, and ratios are medians of the
    per-round ratios (paired, as each round measures both sides back to back).
    """
    log = log or (lambda msg: None)
    rows = []
    for name in models:
        spec = STUDY[name]
        wanted = [m for m in MEASUREMENTS if m != "study" or get_entry(name).convolutional]
        runs: dict[str, list[float]] = {m: [] for m in wanted}
        warm: dict[str, list[float]] = {m: [] for m in wanted}
        for r in range(repeats):
            for m in wanted:
                ips, warm_s = train_throughput(name, m, device=device, precision=precision, steps=steps,
                                               warmup=warmup, num_workers=num_workers, compile_mode=compile_mode)
                runs[m].append(ips)
                warm[m].append(warm_s)
                log(f"{name:<7} {m:<12} {ips:10.0f} images/s (warm-up {warm_s:.1f}s)"
                    + (f"  [round {r + 1}/{repeats}]" if repeats > 1 else ""))
        # Without channels_last (the MLP) the study's set-up is the "torchvision" measurement.
        runs.setdefault("study", runs["torchvision"])
        row = {"model": name, "epochs": spec.epochs}
        for m, values in runs.items():
            row[f"{m}_images_per_s"] = float(np.median(values))
            row[f"{m}_images_per_s_runs"] = values
        for m, values in warm.items():
            row[f"{m}_warmup_seconds"] = float(np.median(values))

        def paired(a: str, b: str) -> list[float]:
            return [x / y for x, y in zip(runs[a], runs[b])]

        row["ratio_runs"] = paired("fast", "torchvision")
        row["ratio"] = float(np.median(row["ratio_runs"]))
        row["ratio_to_study"] = float(np.median(paired("fast", "study")))
        # No input pipeline can beat re-feeding one batch, so this caps `ratio`.
        row["ratio_bound"] = float(np.median(paired("compute", "torchvision")))
        row["fast_share_of_compute_floor"] = float(np.median(paired("fast", "compute")))
        row["eval_images_per_s"] = eval_throughput(name, device=device, precision=precision,
                                                   compile_mode=compile_mode)
        eval_seconds = (spec.epochs * VAL_IMAGES + TEST_IMAGES) / row["eval_images_per_s"]
        for m in ("torchvision", "fast"):
            row[f"{m}_projected_seconds"] = spec.epochs * TRAIN_IMAGES / row[f"{m}_images_per_s"] + eval_seconds
        rows.append(row)
    totals = {f"{p}_projected_seconds": sum(r[f"{p}_projected_seconds"] for r in rows)
              for p in ("torchvision", "fast")}
    return {"device": device, "precision": precision, "compile": compile_mode, "steps": steps, "warmup": warmup,
            "repeats": repeats, "num_workers": num_workers, "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "rows": rows, "totals": totals}


# Table columns: title, width, and the cell of a result row (None: blank in the totals line).
_COLUMNS = [
    ("model", 8, lambda r: r["model"]),
    ("study img/s", 13, lambda r: f"{r['study_images_per_s']:,.0f}"),
    ("torchvision", 13, lambda r: f"{r['torchvision_images_per_s']:,.0f}"),
    ("fast", 9, lambda r: f"{r['fast_images_per_s']:,.0f}"),
    ("floor", 9, lambda r: f"{r['compute_images_per_s']:,.0f}"),
    ("ratio", 8, lambda r: f"{r['ratio']:.2f}x"),
    ("(range)", 13, lambda r: _range(r["ratio_runs"])),
    ("bound", 8, lambda r: f"{r['ratio_bound']:.2f}x"),
    ("vs study", 10, lambda r: f"{r['ratio_to_study']:.2f}x"),
    ("fast/floor", 12, lambda r: f"{r['fast_share_of_compute_floor']:.0%}"),
    ("protocol (tv)", 15, lambda r: _fmt(r["torchvision_projected_seconds"])),
    ("(fast)", 9, lambda r: _fmt(r["fast_projected_seconds"])),
]


def measure(models: list[str], *, device: str, precision: str | None, steps: int, warmup: int,
            num_workers: int | None, compile_mode: str, repeats: int, log=None) -> dict:
    """`bench speed`: resolve the device, precision and worker count (the study's min(4, CPUs) by default),
    run every measurement, and add where it ran (device name, library versions)."""
    from bench.engine.env import device_name, resolve_device, resolve_precision, versions

    for name in models:
        get_entry(name)
    dev = resolve_device(device)
    workers = num_workers if num_workers is not None else min(4, os.cpu_count() or 1)
    result = run_speed(models, device=dev, precision=resolve_precision(precision, dev), steps=steps, warmup=warmup,
                       num_workers=workers, compile_mode=compile_mode, repeats=repeats, log=log)
    result.update(device_name=device_name(dev), versions=versions())
    return result


def format_table(result: dict) -> str:
    """Images/s per measurement; `ratio` is fast / torchvision, `bound` the most an input pipeline could give."""

    def line(cells: list[str]) -> str:
        return "".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, (_, w, _)) in enumerate(zip(cells, _COLUMNS)))

    head = line([title for title, _, _ in _COLUMNS])
    lines = [head, "-" * len(head)]
    lines += [line([cell(r) for _, _, cell in _COLUMNS]) for r in result["rows"]]
    t = result["totals"]
    lines.append(line(["total"] + [""] * (len(_COLUMNS) - 3)
                      + [_fmt(t["torchvision_projected_seconds"]), _fmt(t["fast_projected_seconds"])]))
    lines.append(f"medians of {result['repeats']} round(s) of {result['steps']} timed steps; ratio = fast / "
                 "torchvision (same layout), range over rounds; bound = floor / torchvision, the most any input "
                 "pipeline could give; vs study = fast / the study's set-up (torchvision pipeline, NCHW).")
    return "\n".join(lines)


def _range(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else "-"


def _fmt(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 600 else f"{seconds / 60:.1f}min"
