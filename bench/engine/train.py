"""The training engine: one epoch, one evaluation, and a resumable fit of one model.

`fit` writes the per-model artifacts (see bench.rundir.layout). It checkpoints after every
epoch and, when re-run with the same configuration, continues after the last complete
epoch. All randomness inside an epoch derives from (seed, epoch), so a resumed run
computes exactly what an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import torch
import torch.nn.functional as F

from bench import ARTIFACT_FORMAT, __version__
from bench.rundir import layout as art
from bench.data.cifar10 import STREAM_TORCH, Splits, epoch_generator, make_loader
from bench.errors import BenchError
from bench.results.metrics import summary_metrics
from bench.models.registry import count_parameters, create_model, get_entry, layer_summary, param_groups
from bench.protocol import TrainSpec

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")
# torch.compile modes; "reduce-overhead" adds CUDA graphs on a GPU.
COMPILE_MODES = ("none", "default", "reduce-overhead")


@dataclass(frozen=True)
class RunOptions:
    """How to run (as opposed to what to compute, which is the TrainSpec)."""

    device: str = "cpu"              # resolved device: "cpu" or "cuda"
    precision: str = "fp32"          # fp32, or bf16 autocast (CUDA)
    pipeline: str = "fast"           # "fast" (device-resident) or "torchvision" (DataLoader)
    num_workers: int = 2             # DataLoader workers for the torchvision pipeline
    eval_batch_size: int = 1024      # evaluation needs no gradients, so big batches are cheap
    deterministic: bool = False      # force deterministic CUDA kernels (slower)
    channels_last: bool = True       # NHWC memory layout for conv nets
    compile: str = "none"            # torch.compile mode (COMPILE_MODES); off by default: see README "Speed"


def resolve_device(name: str) -> str:
    if name not in DEVICES:
        raise BenchError(f"unknown device {name!r}; choose one of: {', '.join(DEVICES)}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda was asked for but no CUDA device is available; use --device cpu or auto")
    return name


def resolve_precision(name: str | None, device: str) -> str:
    if name is None:
        return "bf16" if device == "cuda" else "fp32"
    if name not in PRECISIONS:
        raise BenchError(f"unknown precision {name!r}; choose one of: {', '.join(PRECISIONS)}")
    return name


def resolve_compile(mode: str) -> str:
    if mode not in COMPILE_MODES:
        raise BenchError(f"unknown compile mode {mode!r}; choose one of: {', '.join(COMPILE_MODES)}")
    return mode


def compiled(model, mode: str):
    """The module that runs steps: `model` itself, or a compiled wrapper sharing its parameters."""
    if resolve_compile(mode) == "none":
        return model
    return torch.compile(model, mode=mode)


def configure_determinism(deterministic: bool) -> None:
    if deterministic:
        # cuBLAS needs this before its first call to pick reproducible reductions.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _autocast(device: str, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _bar(iterable, *, label: str, show: bool):
    if not show:
        return contextlib.nullcontext(iterable)
    return click.progressbar(iterable, label=label, file=sys.stderr)


def train_step(model, x, y, optimizer, *, device: str, precision: str):
    """One optimisation step; returns the (detached) loss and logits, still on the device."""
    with _autocast(device, precision):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


def train_one_epoch(model, loader, optimizer, *, device: str, precision: str, show_progress: bool = False,
                    label: str = "train") -> tuple[float, float]:
    """One pass over `loader`; returns (mean loss, accuracy).

    Sums stay on the device: reading them back each step would stall the GPU.
    """
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    with _bar(loader, label=label, show=show_progress) as batches:
        for x, y in batches:
            loss, logits = train_step(model, x, y, optimizer, device=device, precision=precision)
            loss_sum += loss.double() * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
    return loss_sum.item() / seen, correct.item() / seen


@torch.no_grad()
def predict(model, loader, *, device: str, precision: str) -> tuple[np.ndarray, np.ndarray]:
    """Logits (float32) and labels for every example of `loader`, in order."""
    model.eval()
    logits, labels = [], []
    for x, y in loader:
        with _autocast(device, precision):
            out = model(x)
        # clone(): under CUDA graphs the next replay would overwrite `out` in place.
        logits.append(out.float().clone())
        labels.append(y)
    return torch.cat(logits).cpu().numpy(), torch.cat(labels).cpu().numpy()


def evaluate(model, loader, *, device: str, precision: str) -> tuple[float, float]:
    logits, labels = predict(model, loader, device=device, precision=precision)
    m = summary_metrics(labels, logits)
    return m["loss"], m["accuracy"]


def make_optimizer(model, spec: TrainSpec):
    groups = param_groups(model, spec.phases[0].lr, spec.backbone_lr_scale)
    if spec.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=spec.phases[0].lr, momentum=spec.momentum,
                              weight_decay=spec.weight_decay)
    elif spec.optimizer == "adam":
        opt = torch.optim.Adam(groups, lr=spec.phases[0].lr, weight_decay=spec.weight_decay)
    else:
        raise BenchError(f"unknown optimizer {spec.optimizer!r}; choose one of: sgd, adam")
    base = spec.phases[0].lr
    # Piecewise-constant phases as a multiplier of each group's first rate, so the
    # backbone keeps its fixed ratio to the head through every phase.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: spec.lr_at(min(epoch, spec.epochs - 1)) / base)
    return opt, sched


def versions(device: str = "cpu") -> dict:
    """The libraries that computed the results; the CUDA stack only when it ran."""
    import scipy
    import sklearn
    import torchvision

    out = {"bench": __version__, "python": platform.python_version(), "torch": torch.__version__,
           "torchvision": torchvision.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
           "scikit-learn": sklearn.__version__}
    if device == "cuda":
        out.update(cuda=torch.version.cuda, cudnn=str(torch.backends.cudnn.version()),
                   gpu=torch.cuda.get_device_name(), driver=_cuda_driver())
    return out


def _cuda_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.split("\n")[0].strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def compute_record(spec: TrainSpec, *, options: RunOptions, model_kwargs: dict, weights: dict,
                   profile: dict, data_facts: dict, model) -> dict:
    """Everything that decides a model's results except its seed: its protocol, as config.json records it.

    `weights` is {"source": ..., "sha256": ...} of the pretrained weights ({} for none).
    """
    return {
        "spec": spec.to_dict(),
        "model_kwargs": model_kwargs,
        # The architecture itself, so that editing a model's code invalidates old checkpoints.
        "architecture": hashlib.sha256(repr(model).encode()).hexdigest()[:16],
        # Where the model's code came from (a plug-in's file and SHA-256), so editing it changes the fingerprint.
        "model_source": get_entry(spec.model).source,
        "weights_source": weights.get("source", ""),
        "weights_sha256": weights.get("sha256"),
        "profile": profile,
        "normalisation": data_facts["normalisation"],
        "split_seed": data_facts["split_seed"],
        "sizes": {k: data_facts["shapes"][k][0] for k in ("train", "val", "test")},
        "precision": options.precision,
        "pipeline": options.pipeline,
        "num_workers": options.num_workers if options.pipeline == "torchvision" else 0,
        "device_type": options.device,
        "deterministic": options.deterministic,
        "channels_last": options.channels_last and get_entry(spec.model).convolutional,
        "compile": options.compile,
        "eval_batch_size": options.eval_batch_size,
        "randomness": "per-epoch generators seeded from (seed, epoch, stream) via numpy SeedSequence: "
                      "batch order, crop offsets, flips, and torch's global RNG (dropout)",
    }


def build_config(spec: TrainSpec, *, seed: int, options: RunOptions, model_kwargs: dict, weights: dict,
                 profile: dict, data_facts: dict, model, directory_fingerprint: str = "") -> dict:
    protocol = compute_record(spec, options=options, model_kwargs=model_kwargs, weights=weights, profile=profile,
                              data_facts=data_facts, model=model)
    compute = {**protocol, "seed": seed}
    entry = get_entry(spec.model)
    return {
        "artifact_format": ARTIFACT_FORMAT,
        "model": spec.model,
        "title": entry.title,
        "description": entry.description,
        "parameters": count_parameters(model),
        "layers": layer_summary(model),
        "compute": compute,
        # Seed-level: a finished run with this fingerprint is skipped, not retrained.
        "fingerprint": _digest(compute),
        # Model-level: every seed of a model in one run directory shares it.
        "protocol_fingerprint": _digest(protocol),
        # Directory-level: see bench.rundir.rundir.
        "directory_fingerprint": directory_fingerprint,
        "eval_batch_size": options.eval_batch_size,
        "cuda_graphs": options.compile == "reduce-overhead" and options.device == "cuda",
        "torch_threads": torch.get_num_threads(),
        "versions": versions(options.device),
    }


def _digest(record: dict) -> str:
    # Same digest as bench.rundir.rundir.fingerprint, kept local so the engine does not import the run-directory layer.
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fit(spec: TrainSpec, splits: Splits, *, seed: int, options: RunOptions, out_dir: Path,
        model_kwargs: dict | None = None, weights: dict | None = None, profile: dict | None = None,
        data_facts: dict, directory_fingerprint: str = "", force: bool = False, show_progress: bool = False,
        log=None, on_start=None, epoch_budget: int | None = None) -> dict:
    """Train one model for one seed and write its artifacts into `out_dir`.

    Returns its metrics.json content (also for a model found already finished). `on_start`
    is called with the epoch training starts from, only when there is training to do.
    With `epoch_budget`, this call trains at most that many epochs, then pauses (checkpointed,
    as if interrupted) with status "unfinished"; a later call resumes it (the Ray executor
    trains one epoch per task this way).
    """
    log = log or (lambda msg: None)
    out_dir = Path(out_dir)
    model_kwargs = dict(model_kwargs or {})
    device, precision = options.device, options.precision
    configure_determinism(options.deterministic)
    seed_everything(seed)
    model = create_model(spec.model, **model_kwargs)
    # The state dict is bulky and not JSON; config records its source instead.
    recorded_kwargs = {k: v for k, v in model_kwargs.items() if k != "state_dict"}
    config = build_config(spec, seed=seed, options=options, model_kwargs=recorded_kwargs, weights=weights or {},
                          profile=profile or {}, data_facts=data_facts, model=model,
                          directory_fingerprint=directory_fingerprint)
    ckpt_path, metrics_path = out_dir / art.CHECKPOINT, out_dir / art.METRICS
    # A process killed mid-write leaves its temporary file behind; the real file is intact.
    for stray in out_dir.glob(".*.tmp"):
        stray.unlink(missing_ok=True)

    if force:
        for name in art.SEED_FILES:
            (out_dir / name).unlink(missing_ok=True)
    elif metrics_path.exists():
        done = art.read_json(metrics_path)
        if done.get("fingerprint") == config["fingerprint"]:
            log(f"{spec.model} seed {seed}: already finished ({done.get('status')}), skipping (--force to redo)")
            return done
        raise BenchError(
            f"{out_dir} holds a finished run with a different configuration; "
            "use another --artifacts directory or --force to overwrite it"
        )

    channels_last = config["compute"]["channels_last"]
    mf = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=mf)
    optimizer, scheduler = make_optimizer(model, spec)
    # Steps run through `runner`; checkpoints save `model`, whose keys compile leaves alone.
    runner = compiled(model, options.compile)
    history: list[dict] = []
    start_epoch = 0
    elapsed = 0.0
    if ckpt_path.exists():
        state = art.load_checkpoint(ckpt_path)
        if state.get("fingerprint") != config["fingerprint"]:
            raise BenchError(
                f"checkpoint {ckpt_path} was written with a different configuration; "
                "re-run with --force to start this model again"
            )
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            history, start_epoch, elapsed = state["history"], state["epoch"], state["train_seconds"]
            ok = (isinstance(start_epoch, int) and 0 < start_epoch <= spec.epochs and isinstance(history, list)
                  and len(history) == start_epoch and isinstance(elapsed, (int, float)))
            if not ok:
                raise ValueError(f"epoch {start_epoch!r} of {spec.epochs} with {len(history)} history rows")
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise BenchError(f"checkpoint {ckpt_path} is incomplete or inconsistent ({exc}); "
                             "re-run with --force") from None
        log(f"{spec.model} seed {seed}: resuming after epoch {start_epoch}/{spec.epochs}")
    if on_start is not None:
        on_start(start_epoch)
    art.write_json(out_dir / art.CONFIG, config)

    loader_args = dict(mean=splits.mean, std=splits.std, device=torch.device(device),
                       channels_last=channels_last, num_workers=options.num_workers)
    train_loader = make_loader(options.pipeline, *splits.train, batch_size=spec.batch_size, augment=spec.augment,
                               shuffle=True, seed=seed, **loader_args)
    val_loader = make_loader("fast", *splits.val, batch_size=options.eval_batch_size, **loader_args)

    status = "complete"
    end = spec.epochs if epoch_budget is None else min(spec.epochs, start_epoch + epoch_budget)
    for epoch in range(start_epoch, end):
        t0 = time.perf_counter()
        # Dropout draws from torch's global generator; reseeding it per epoch makes
        # a resumed epoch identical to an uninterrupted one.
        torch.manual_seed(epoch_generator(seed, epoch, STREAM_TORCH).initial_seed())
        train_loader.set_epoch(epoch)
        tr_loss, tr_acc = train_one_epoch(runner, train_loader, optimizer, device=device, precision=precision,
                                          show_progress=show_progress,
                                          label=f"{spec.model} s{seed} epoch {epoch + 1}/{spec.epochs}")
        va_loss, va_acc = evaluate(runner, val_loader, device=device, precision=precision)
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        seconds = time.perf_counter() - t0
        elapsed += seconds
        history.append({"epoch": epoch + 1, "phase": spec.phase_of(epoch) + 1, "lr": lr, "train_loss": tr_loss,
                        "train_acc": tr_acc, "val_loss": va_loss, "val_acc": va_acc, "seconds": seconds})
        log(f"{spec.model} seed {seed} epoch {epoch + 1}/{spec.epochs} lr {lr:g}: train loss {tr_loss:.4f} "
            f"acc {tr_acc:.4f} | val loss {va_loss:.4f} acc {va_acc:.4f} | {seconds:.1f}s")
        art.write_history(out_dir / art.HISTORY, history)
        if not (math.isfinite(tr_loss) and math.isfinite(va_loss)):
            status = "diverged"
            log(f"{spec.model} seed {seed}: loss is not finite at epoch {epoch + 1}; stopping this model")
            break
        art.save_checkpoint(ckpt_path, {
            "fingerprint": config["fingerprint"], "epoch": epoch + 1, "history": history,
            "train_seconds": elapsed, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            # Recorded for inspection only: every generator used in an epoch (batch order,
            # crops, flips, dropout) is re-derived from (seed, epoch) on resume; numpy's and
            # Python's global generators are not used during training.
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if device == "cuda" else []},
        })

    if status == "complete" and len(history) < spec.epochs:
        # Paused by epoch_budget: the checkpoint holds the state, there is nothing to evaluate yet.
        return {"model": spec.model, "seed": seed, "status": "unfinished", "epochs_run": len(history),
                "fingerprint": config["fingerprint"]}
    metrics = {"artifact_format": ARTIFACT_FORMAT, "model": spec.model, "seed": seed, "status": status,
               "fingerprint": config["fingerprint"], "epochs_run": len(history), "train_seconds": elapsed}
    if status == "complete":
        t0 = time.perf_counter()
        test_loader = make_loader("fast", *splits.test, batch_size=options.eval_batch_size, **loader_args)
        logits, labels = predict(runner, test_loader, device=device, precision=precision)
        metrics["eval_seconds"] = time.perf_counter() - t0
        art.write_predictions(out_dir / art.PREDICTIONS, labels, logits)
        metrics["test"] = summary_metrics(labels, logits)
        log(f"{spec.model} seed {seed}: test loss {metrics['test']['loss']:.4f} "
            f"accuracy {metrics['test']['accuracy']:.4f}")
    # metrics.json last: its presence marks the model as finished.
    art.write_json(metrics_path, metrics)
    return metrics
