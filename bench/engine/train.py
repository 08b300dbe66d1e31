"""The training engine: one step, one epoch, predictions, the optimiser, and a resumable `fit` of one model.

`fit` writes the per-model artifacts (see bench.rundir.layout) in three parts:
`start_or_resume` (build, check what is on disk, restore a checkpoint), `run_epochs`
(checkpointing after every epoch) and `finish` (test predictions and metrics.json). When
re-run with the same configuration, it continues after the last complete epoch. All
randomness inside an epoch derives from (seed, epoch), so a resumed run computes exactly
what an uninterrupted one would.

The engine draws nothing on screen: a caller that wants a progress bar passes `progress`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from bench import ARTIFACT_FORMAT
from bench.config import CompileMode, RunOptions
from bench.data.pipelines import STREAM_TORCH, Splits, epoch_generator, make_loader
from bench.engine import checkpoint
from bench.engine.checkpoint import is_finished
from bench.engine.env import resolve_compile, versions
from bench.errors import BenchError
from bench.models.registry import count_parameters, create_model, get_entry, layer_summary, param_groups, structure_of
from bench.protocol import OPTIMIZERS, TrainSpec
from bench.results.metrics import summary_metrics
from bench.rundir import layout as art
from bench.rundir.checks import fingerprint

# progress(batches, label) -> a context manager that yields the batches to iterate while it shows them
# (click.progressbar fits); given by the caller, so that the engine itself never draws.
Progress = Callable[[Iterable, str], ContextManager[Iterable]]


def no_progress(batches: Iterable, label: str) -> ContextManager[Iterable]:
    return contextlib.nullcontext(batches)


def compiled(model, mode: str):
    """The module that runs steps: `model` itself, or a compiled wrapper sharing its parameters."""
    if resolve_compile(mode) == CompileMode.NONE:
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


def train_step(model, x, y, optimizer, *, device: str, precision: str):
    """One optimisation step; returns the (detached) loss and logits, still on the device."""
    with _autocast(device, precision):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


def train_one_epoch(model, loader, optimizer, *, device: str, precision: str, progress: Progress | None = None,
                    label: str = "train") -> tuple[float, float]:
    """One pass over `loader`; returns (mean loss, accuracy).

    Sums stay on the device: reading them back each step would stall the GPU.
    """
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    with (progress or no_progress)(loader, label) as batches:
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
        raise BenchError(f"unknown optimizer {spec.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
    base = spec.phases[0].lr
    # Piecewise-constant phases as a multiplier of each group's first rate, so the
    # backbone keeps its fixed ratio to the head through every phase.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: spec.lr_at(min(epoch, spec.epochs - 1)) / base)
    return opt, sched


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
        # The network as data (bench.models.registry.ModelEntry.describe), outside the fingerprinted record
        # so that directories written before it existed stay valid.
        "structure": structure_of(spec.model, model),
        "compute": compute,
        # Seed-level: a finished run with this fingerprint is skipped, not retrained.
        "fingerprint": fingerprint(compute),
        # Model-level: every seed of a model in one run directory shares it.
        "protocol_fingerprint": fingerprint(protocol),
        # Directory-level: see bench.rundir.rundir.
        "directory_fingerprint": directory_fingerprint,
        "eval_batch_size": options.eval_batch_size,
        "cuda_graphs": options.compile == "reduce-overhead" and options.device == "cuda",
        "torch_threads": torch.get_num_threads(),
        "versions": versions(options.device),
    }




@dataclass
class Training:
    """One model x seed being trained: what `start_or_resume` builds and `run_epochs` and `finish` use."""

    spec: TrainSpec               # what to compute
    seed: int                     # with the epoch, the source of every random draw
    options: RunOptions           # how to run it
    out_dir: Path                 # the job's folder (model/seed-N)
    config: dict                  # config.json's content; its "fingerprint" identifies the job
    model: torch.nn.Module        # the network; checkpoints save its state
    runner: torch.nn.Module       # what runs the steps: `model`, or its compiled wrapper
    optimizer: torch.optim.Optimizer  # SGD or Adam over `param_groups` (head and tuned backbone)
    scheduler: torch.optim.lr_scheduler.LRScheduler  # the spec's learning-rate phases, stepped once per epoch
    history: list[dict] = field(default_factory=list)  # one row per finished epoch (history.csv)
    elapsed: float = 0.0          # training seconds so far, across resumes
    log: Callable[[str], None] = field(default=lambda msg: None)  # one line per event

    def loader(self, split: tuple, splits: Splits, *, pipeline: str = "fast", **kwargs):
        """A loader of `split` (images, labels), normalised by the training split's statistics. Evaluation
        always uses the fast pipeline: without augmentation both pipelines give the same batches."""
        return make_loader(pipeline, *split, mean=splits.mean, std=splits.std,
                           device=torch.device(self.options.device),
                           channels_last=self.config["compute"]["channels_last"],
                           num_workers=self.options.num_workers, **kwargs)


def start_or_resume(spec: TrainSpec, *, seed: int, options: RunOptions, out_dir: Path, model_kwargs: dict,
                    weights: dict, profile: dict, data_facts: dict, directory_fingerprint: str,
                    log) -> Training | dict:
    """Build the model and its config; then either the job's metrics (already finished: nothing to do), or a
    `Training` ready for its next epoch (fresh, or restored from the job's checkpoint)."""
    configure_determinism(options.deterministic)
    seed_everything(seed)
    model = create_model(spec.model, **model_kwargs)
    # The state dict is bulky and not JSON; config records its source instead.
    recorded_kwargs = {k: v for k, v in model_kwargs.items() if k != "state_dict"}
    config = build_config(spec, seed=seed, options=options, model_kwargs=recorded_kwargs, weights=weights,
                          profile=profile, data_facts=data_facts, model=model,
                          directory_fingerprint=directory_fingerprint)
    ckpt_path, metrics_path = out_dir / art.CHECKPOINT, out_dir / art.METRICS
    # A process killed mid-write leaves its temporary file behind; the real file is intact.
    for stray in out_dir.glob(".*.tmp"):
        stray.unlink(missing_ok=True)

    # --force is decided once, by the driver (bench.executors.base.run_jobs clears the job's files first).
    if metrics_path.exists():
        if is_finished(out_dir, config["fingerprint"]):
            done = art.read_json(metrics_path)
            log(f"{spec.model} seed {seed}: already finished ({done.get('status')}), skipping (--force to redo)")
            return done
        raise BenchError(
            f"{out_dir} holds a finished run with a different configuration; "
            "use another --artifacts directory or --force to overwrite it"
        )

    mf = torch.channels_last if config["compute"]["channels_last"] else torch.contiguous_format
    model = model.to(device=options.device, memory_format=mf)
    optimizer, scheduler = make_optimizer(model, spec)
    # Steps run through `runner`; checkpoints save `model`, whose keys compile leaves alone.
    job = Training(spec, seed, options, out_dir, config, model, compiled(model, options.compile), optimizer,
                   scheduler, log=log)
    if ckpt_path.exists():
        job.history, start, job.elapsed = checkpoint.restore(
            ckpt_path, fingerprint=config["fingerprint"], epochs=spec.epochs, model=model, optimizer=optimizer,
            scheduler=scheduler)
        log(f"{spec.model} seed {seed}: resuming after epoch {start}/{spec.epochs}")
    return job


def run_epochs(job: Training, splits: Splits, *, epoch_budget: int | None = None,
               progress: Progress | None = None) -> str:
    """Train from the job's next epoch to the end of its schedule (or `epoch_budget` epochs), checkpointing
    after each; returns "complete" (or paused), or "diverged" when a loss stopped being finite."""
    spec, seed, options = job.spec, job.seed, job.options
    device, precision = options.device, options.precision
    train_loader = job.loader(splits.train, splits, pipeline=options.pipeline, batch_size=spec.batch_size,
                              augment=spec.augment, shuffle=True, seed=seed)
    val_loader = job.loader(splits.val, splits, batch_size=options.eval_batch_size)
    start = len(job.history)
    end = spec.epochs if epoch_budget is None else min(spec.epochs, start + epoch_budget)
    for epoch in range(start, end):
        t0 = time.perf_counter()
        # Dropout draws from torch's global generator; reseeding it per epoch makes
        # a resumed epoch identical to an uninterrupted one.
        torch.manual_seed(epoch_generator(seed, epoch, STREAM_TORCH).initial_seed())
        train_loader.set_epoch(epoch)
        tr_loss, tr_acc = train_one_epoch(job.runner, train_loader, job.optimizer, device=device,
                                          precision=precision, progress=progress,
                                          label=f"{spec.model} s{seed} epoch {epoch + 1}/{spec.epochs}")
        va_loss, va_acc = evaluate(job.runner, val_loader, device=device, precision=precision)
        lr = job.optimizer.param_groups[0]["lr"]
        job.scheduler.step()
        seconds = time.perf_counter() - t0
        job.elapsed += seconds
        job.history.append({"epoch": epoch + 1, "phase": spec.phase_of(epoch) + 1, "lr": lr,
                            "train_loss": tr_loss, "train_acc": tr_acc, "val_loss": va_loss, "val_acc": va_acc,
                            "seconds": seconds})
        job.log(f"{spec.model} seed {seed} epoch {epoch + 1}/{spec.epochs} lr {lr:g}: train loss {tr_loss:.4f} "
                f"acc {tr_acc:.4f} | val loss {va_loss:.4f} acc {va_acc:.4f} | {seconds:.1f}s")
        art.write_history(job.out_dir / art.HISTORY, job.history)
        if not (math.isfinite(tr_loss) and math.isfinite(va_loss)):
            job.log(f"{spec.model} seed {seed}: loss is not finite at epoch {epoch + 1}; stopping this model")
            return "diverged"
        checkpoint.save(job.out_dir / art.CHECKPOINT, fingerprint=job.config["fingerprint"], history=job.history,
                        elapsed=job.elapsed, model=job.model, optimizer=job.optimizer, scheduler=job.scheduler,
                        device=device)
    return "complete"


def finish(job: Training, splits: Splits, status: str) -> dict:
    """The job's metrics: after a complete schedule, test predictions and metrics.json (written last: its
    presence marks the job finished); after a diverged one, metrics.json without test results; when paused
    by an epoch budget, an "unfinished" record and no file (the checkpoint holds the state)."""
    spec, seed, options = job.spec, job.seed, job.options
    fp = job.config["fingerprint"]
    if status == "complete" and len(job.history) < spec.epochs:
        return {"model": spec.model, "seed": seed, "status": "unfinished", "epochs_run": len(job.history),
                "fingerprint": fp}
    metrics = {"artifact_format": ARTIFACT_FORMAT, "model": spec.model, "seed": seed, "status": status,
               "fingerprint": fp, "epochs_run": len(job.history), "train_seconds": job.elapsed}
    if status == "complete":
        t0 = time.perf_counter()
        test_loader = job.loader(splits.test, splits, batch_size=options.eval_batch_size)
        logits, labels = predict(job.runner, test_loader, device=options.device, precision=options.precision)
        metrics["eval_seconds"] = time.perf_counter() - t0
        art.write_predictions(job.out_dir / art.PREDICTIONS, labels, logits)
        # Readers check that the predictions are still the ones these metrics describe (bench.rundir.rundir).
        metrics["predictions_sha256"] = art.sha256_file(job.out_dir / art.PREDICTIONS)
        metrics["test"] = summary_metrics(labels, logits)
        job.log(f"{spec.model} seed {seed}: test loss {metrics['test']['loss']:.4f} "
                f"accuracy {metrics['test']['accuracy']:.4f}")
    art.write_json(job.out_dir / art.METRICS, metrics)
    return metrics


def fit(spec: TrainSpec, splits: Splits, *, seed: int, options: RunOptions, out_dir: Path,
        model_kwargs: dict | None = None, weights: dict | None = None, profile: dict | None = None,
        data_facts: dict, directory_fingerprint: str = "", progress: Progress | None = None,
        log=None, on_start=None, epoch_budget: int | None = None) -> dict:
    """Train one model for one seed and write its artifacts into `out_dir`.

    Returns its metrics.json content (also for a model found already finished). `on_start`
    is called with the epoch training starts from, only when there is training to do.
    With `epoch_budget`, this call trains at most that many epochs, then pauses (checkpointed,
    as if interrupted) with status "unfinished"; a later call resumes it (the Ray executor
    trains one epoch per task this way). `progress` shows the batches of each epoch (None: nothing).
    """
    log = log or (lambda msg: None)
    out_dir = Path(out_dir)
    job = start_or_resume(spec, seed=seed, options=options, out_dir=out_dir, model_kwargs=dict(model_kwargs or {}),
                          weights=weights or {}, profile=profile or {}, data_facts=data_facts,
                          directory_fingerprint=directory_fingerprint, log=log)
    if not isinstance(job, Training):
        return job
    if on_start is not None:
        on_start(len(job.history))
    art.write_json(out_dir / art.CONFIG, job.config)
    status = run_epochs(job, splits, epoch_budget=epoch_budget, progress=progress)
    return finish(job, splits, status)
