"""The choices a user makes about how to run, defined once, and the option records built from them.

Nothing here imports torch: the CLI builds its `click.Choice`s from these enums
(`click.Choice(Device.values())`) and must start without loading it. The option
records keep plain strings (an enum's value), so that config.json, manifest.json
and every fingerprint computed from them read exactly as before.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from enum import Enum

from bench.errors import BenchError


class Choice(str, Enum):
    """A closed set of legal strings; members compare equal to (and print as) their value."""

    def __str__(self) -> str:
        # Prints as the value in every Python version ("cpu", not "Device.CPU").
        return self.value

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The legal values in declaration order, e.g. for `click.Choice(Device.values())`."""
        return tuple(m.value for m in cls)

    @classmethod
    def parse(cls, value, *, what: str | None = None) -> str:
        """`value` as a legal string, or a BenchError that lists the legal ones."""
        if isinstance(value, cls):
            return value.value
        if isinstance(value, str) and value in cls.values():
            return value
        label = what or LABELS[cls]
        raise BenchError(f"unknown {label} {value!r}; choose one of: {', '.join(cls.values())}")


class Device(Choice):
    AUTO = "auto"   # CUDA when available, else the CPU
    CPU = "cpu"
    CUDA = "cuda"   # an error, not a silent fallback, when no GPU is present


class Precision(Choice):
    FP32 = "fp32"
    BF16 = "bf16"   # bfloat16 autocast; the default on CUDA


class Pipeline(Choice):
    FAST = "fast"                # device-resident batches (bench.data.pipelines.DeviceLoader)
    TORCHVISION = "torchvision"  # the study's DataLoader with PIL transforms (reference)


class CompileMode(Choice):
    NONE = "none"
    DEFAULT = "default"
    REDUCE_OVERHEAD = "reduce-overhead"  # adds CUDA graphs on a GPU


class Executor(Choice):
    LOCAL = "local"  # the jobs one after another in this process
    RAY = "ray"      # the jobs as Ray tasks (pip install bench[ray])


# How messages name each choice ("unknown compile mode 'x'; choose one of: ..."). Kept outside the classes:
# any plain attribute of an Enum class would become one more member.
LABELS: dict[type, str] = {Device: "device", Precision: "precision", Pipeline: "input pipeline",
                           CompileMode: "compile mode", Executor: "executor"}


def _from_dict(cls, record: dict, *, what: str):
    """Build dataclass `cls` from `record`, refusing keys it does not have (the message lists the legal ones)."""
    if not isinstance(record, dict):
        raise BenchError(f"{what} must be a mapping, got {type(record).__name__}")
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(record) - set(names))
    if unknown:
        raise BenchError(f"{what} has unknown key {unknown[0]!r}; legal keys: {', '.join(names)}")
    return cls(**record)


@dataclass(frozen=True)
class RunOptions:
    """How to run (as opposed to what to compute, which is the TrainSpec)."""

    device: str = "cpu"              # resolved device: "cpu" or "cuda" (never "auto": see engine.env.resolve_device)
    precision: str = "fp32"          # Precision: fp32, or bf16 autocast (CUDA)
    pipeline: str = "fast"           # Pipeline: "fast" (device-resident) or "torchvision" (DataLoader)
    num_workers: int = 2             # DataLoader workers for the torchvision pipeline
    eval_batch_size: int = 1024      # evaluation needs no gradients, so big batches are cheap
    deterministic: bool = False      # force deterministic CUDA kernels (slower)
    channels_last: bool = True       # NHWC memory layout for conv nets
    compile: str = "none"            # CompileMode; off by default: see README "Speed"

    def __post_init__(self):
        # Checked here so that a bad value fails where it is made, not deep inside a training job.
        if Device.parse(self.device) == Device.AUTO:
            raise BenchError("run options need a resolved device (cpu or cuda), not 'auto'; "
                             "see bench.engine.env.resolve_device")
        Precision.parse(self.precision)
        Pipeline.parse(self.pipeline)
        CompileMode.parse(self.compile)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> RunOptions:
        return _from_dict(cls, record, what="run options")


# Seconds `--executor ray` waits for a cluster to answer before it refuses the command (--ray-timeout).
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ExecutorOptions:
    """Where jobs run (bench.executors); none of it changes results, so none of it is fingerprinted."""

    name: str = "local"                # Executor: "local" or "ray"
    address: str | None = None         # Ray: None starts a local instance; "auto" joins `ray start --head`
    cpus_per_job: int = 1              # Ray: CPUs (and torch threads) per job
    gpus_per_job: float = 0.0          # Ray: GPUs per job; fractions pack several jobs on one GPU
    max_retries: int = 2               # Ray: re-submissions of an epoch lost with its worker or node
    connect_timeout: float | None = None  # Ray: seconds to wait for a cluster to answer (None: CONNECT_TIMEOUT)

    def __post_init__(self):
        Executor.parse(self.name)
        # NaN passes every range check (each comparison is False): refuse what is not a finite number here.
        for key, value in (("gpus-per-job", self.gpus_per_job), ("ray-timeout", self.connect_timeout)):
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise BenchError(f"--{key} must be a finite number >= 0, got {value!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> ExecutorOptions:
        return _from_dict(cls, record, what="executor options")
