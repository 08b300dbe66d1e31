"""The options the commands share, their types and legal ranges, built from bench.config's choices."""

from __future__ import annotations

import math
import os
from pathlib import Path

import click

from bench.config import CONNECT_TIMEOUT, CompileMode, Device, Executor, Pipeline, Precision
from bench.errors import BenchError
from bench.protocol import PROFILES


class NonEmptyPath(click.Path):
    """click.Path that refuses '' (which would silently mean the current folder)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path names nothing", param, ctx)
        return super().convert(value, param, ctx)


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf, which pass its range check (every comparison with nan
    is false) and would reach the executor."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


# Legal ranges of numeric options, checked by click before any work (and shown in --help).
SEED_MAX = 2**31 - 1
MAX_SEEDS = 100
EPOCHS_RANGE = click.IntRange(1, 1000)
IMAGE_SIZE_RANGE = click.IntRange(32, 256)
WORKERS_RANGE = click.IntRange(0, 64)


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2]; a single number N -> [0, ..., N-1]."""
    try:
        parts = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise BenchError(f"--seeds takes a count (3) or a comma-separated list (0,1,2), got {text!r}") from None
    if not parts or any(p < 0 for p in parts):
        raise BenchError(f"--seeds takes a count (3) or a comma-separated list (0,1,2), got {text!r}")
    if len(parts) == 1 and "," not in text:
        if not 1 <= parts[0] <= MAX_SEEDS:
            raise BenchError(f"--seeds {parts[0]}: a count must be between 1 and {MAX_SEEDS} "
                             "(for seed 0 alone use --seed 0 or --seeds 0,)")
        return list(range(parts[0]))
    if len(parts) > MAX_SEEDS or max(parts) > SEED_MAX:
        raise BenchError(f"--seeds takes at most {MAX_SEEDS} seeds, each between 0 and {SEED_MAX}, got {text!r}")
    if len(set(parts)) != len(parts):
        raise BenchError(f"--seeds lists a seed twice: {text!r}")
    return parts


# The choice lists of bench.config (which imports no torch, so the CLI starts fast).
COMPILE_CHOICE = click.Choice(CompileMode.values())
PROFILE_CHOICE = click.Choice(list(PROFILES))

_DATA_OPTIONS = [
    click.option("--data-dir", type=NonEmptyPath(file_okay=False, path_type=Path), envvar="BENCH_DATA_DIR",
                 default=None, help="CIFAR-10 root (holds cifar-10-batches-py/). Env: BENCH_DATA_DIR. "
                                    "Default: ~/.cache/bench/cifar10."),
    click.option("--download/--no-download", default=True, show_default=True,
                 help="Download CIFAR-10 (and VGG16 weights) through torchvision when missing."),
    click.option("--verify/--no-verify", default=True, show_default=True,
                 help="Check the pixel arrays' SHA-256 against the published values."),
    click.option("--profile", "profile_name", type=PROFILE_CHOICE, default="full",
                 show_default=True, help="full: the study's protocol; smoke: a small subset, 1 epoch per phase."),
]


class ModelsFrom(click.ParamType):
    """A .py file or an importable module; the environment variable lists several with os.pathsep."""

    name = "PATH_OR_MODULE"

    def split_envvar_value(self, rv: str):
        # Empty entries (a trailing ':' or '::') name nothing, as in PATH.
        return [p for p in (rv or "").split(os.pathsep) if p.strip()]


_PLUGIN_OPTIONS = [
    click.option("--models-from", "models_from", type=ModelsFrom(), multiple=True, envvar="BENCH_MODELS_FROM",
                 help="Register your own models from a .py file or an importable module (repeatable; env "
                      "BENCH_MODELS_FROM, separated by ':'). This runs that file's code."),
    click.option("--protocol", "protocol_file", type=NonEmptyPath(dir_okay=False, path_type=Path), default=None,
                 help="A TOML protocol file overriding the study's specs per model (see `bench protocol`)."),
]


_TRAIN_OPTIONS = [
    click.option("--artifacts", "artifacts_dir", type=NonEmptyPath(file_okay=False, path_type=Path), default=None,
                 help="Run directory for artifacts. Default: artifacts/<profile>."),
    click.option("--device", type=click.Choice(Device.values()), default="auto", show_default=True),
    click.option("--precision", type=click.Choice(Precision.values()), default=None,
                 help="Default: bf16 autocast on CUDA, fp32 on CPU."),
    click.option("--input-pipeline", type=click.Choice(Pipeline.values()), default="fast",
                 show_default=True, help="fast: device-resident batches; torchvision: the reference DataLoader."),
    click.option("--num-workers", type=WORKERS_RANGE, default=2, show_default=True,
                 help="DataLoader workers (torchvision pipeline only)."),
    click.option("--seed", type=click.IntRange(0, SEED_MAX), default=0, show_default=True,
                 help="Seed of a single run."),
    click.option("--seeds", default=None, help=f"Several seeds: a count (3 = 0,1,2; at most {MAX_SEEDS}) or a list "
                                               "(0,1,2). Overrides --seed."),
    click.option("--epochs", type=EPOCHS_RANGE, default=None,
                 help="Override the number of epochs (truncates or extends the last phase)."),
    click.option("--vgg-weights", type=NonEmptyPath(dir_okay=False, path_type=Path), envvar="BENCH_VGG16_WEIGHTS",
                 default=None, help="Local VGG16 features state_dict. Env: BENCH_VGG16_WEIGHTS."),
    click.option("--pretrained/--no-pretrained", default=True, show_default=True,
                 help="Use ImageNet weights for VGG16 (--no-pretrained: random init, recorded as such)."),
    click.option("--frozen-blocks", type=click.IntRange(0, 5), default=3, show_default=True,
                 help="VGG16 conv blocks kept frozen (the rest are tuned)."),
    click.option("--image-size", type=IMAGE_SIZE_RANGE, default=32, show_default=True,
                 help="VGG16 input size; inputs are resized on the device when above 32."),
    click.option("--compile", "compile_mode", type=COMPILE_CHOICE, default="none", show_default=True,
                 help="torch.compile the model (reduce-overhead adds CUDA graphs); measure with `bench speed` first."),
    click.option("--deterministic", is_flag=True, help="Deterministic CUDA kernels (slower)."),
    click.option("--force", is_flag=True, help="Retrain models that already finished."),
    click.option("--dry-run", is_flag=True, help="Print the plan and exit without training."),
    click.option("--executor", type=click.Choice(Executor.values()), default="local", show_default=True,
                 help="Where the model x seed jobs run: in this process, or as Ray tasks (pip install bench[ray])."),
    click.option("--ray-address", default=None,
                 help="Ray cluster to join ('auto': the one `ray start --head` started). Default: a local instance."),
    click.option("--cpus-per-job", type=click.IntRange(1, 256), default=None,
                 help="Ray: CPUs and torch threads per job. Default: the thread count a local run uses here, "
                      "which keeps results bitwise equal to a local run's."),
    click.option("--gpus-per-job", type=FiniteFloatRange(0, 8), default=0.0, show_default=True,
                 help="Ray: GPUs per job; a fraction (0.25) packs several jobs on one GPU."),
    click.option("--max-retries", type=click.IntRange(0, 100), default=2, show_default=True,
                 help="Ray: re-runs of an epoch lost with its worker or node before the job counts as failed."),
    click.option("--ray-timeout", type=FiniteFloatRange(0.1, 600), default=None,
                 help=f"Ray: seconds to wait for the cluster at --ray-address to answer before giving up. "
                      f"Default: {CONNECT_TIMEOUT:g}."),
]


def _with(options):
    """A decorator adding a shared list of click options to a command."""
    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn
    return decorate


data_options = _with(_DATA_OPTIONS)
train_options = _with(_TRAIN_OPTIONS)
plugin_options = _with(_PLUGIN_OPTIONS)


def activate_plugins(models_from, protocol_file):
    """Plug in entry-point and --models-from models, then read the protocol file; returns the Protocol."""
    from bench.models.plugins import activate

    ctx = click.get_current_context()
    return activate(models_from, protocol_file, debug=bool(ctx.find_root().obj and ctx.find_root().obj.get("debug")))


def report_language_options(fn):
    """--lang and --digits of the commands that write a report (bench/i18n.py)."""
    from bench.render.i18n import DIGITS, languages

    fn = click.option("--digits", type=click.Choice(DIGITS), default="native", show_default=True,
                      help="Digits of the report's numbers: the language's own (Persian ۰-۹ for fa) or latin.")(fn)
    return click.option("--lang", type=click.Choice(languages()), default="en", show_default=True,
                        help="Language of the report (fa: Persian, right to left).")(fn)
