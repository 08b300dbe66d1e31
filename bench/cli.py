"""Command line: parses options and wires the modules together; no logic of its own."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from bench.errors import BenchError

ARTIFACTS_ROOT = Path("artifacts")


class BenchGroup(click.Group):
    def make_context(self, info_name, args, parent=None, **extra):
        argv = ["bench", *args]
        ctx = super().make_context(info_name, args, parent=parent, **extra)
        # Recorded in the manifest as the command that reproduces the run.
        ctx.meta["bench.argv"] = argv
        return ctx

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's standalone handling, except that every error is one line (usage errors included)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (KeyboardInterrupt, EOFError, click.exceptions.Abort):
            click.echo("interrupted", err=True)
            sys.exit(130)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "bench"
            click.echo(f"Error: {' '.join(exc.format_message().split())} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        import warnings

        # Warnings are held back until the command succeeds: an error is then the only line printed,
        # and the warnings that remain are shown once each, one line per warning.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = super().invoke(ctx)
            except KeyboardInterrupt:
                # Every checkpoint is complete on disk, so stopping training loses at most one epoch.
                training = ctx.invoked_subcommand in ("train", "all")
                click.echo("interrupted" + ("; the last finished epoch is checkpointed, re-run the same command to "
                                            "resume" if training else ""), err=True)
                raise click.exceptions.Exit(130) from None
            except MemoryError:
                raise BenchError("out of memory; use a smaller --image-size or fewer models at once") from None
            except OSError as exc:
                if ctx.obj and ctx.obj.get("debug"):
                    raise
                # A fault of the environment that no artifact writer anticipated (e.g. a read-only temp folder).
                where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
                raise BenchError(f"{exc.strerror or str(exc) or type(exc).__name__}{where}") from None
        for message in worth_showing(caught):
            click.echo(f"warning: {message}", err=True)
        return result


def worth_showing(caught) -> list[str]:
    """Distinct warning messages, without those a user cannot act on (library deprecations and internals)."""
    shown = []
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            continue
        message = " ".join(str(w.message).split())
        if any(noise in message for noise in IGNORED_WARNINGS) or message in shown:
            continue
        shown.append(message)
    return shown


# Third-party warnings that say nothing a user of bench could change.
IGNORED_WARNINGS = (
    "NumPy array is not writable",       # torch.from_numpy on read-only pickled arrays; we never write them
    "TypedStorage is deprecated",
    "To copy construct from a tensor",
    "Glyph",                             # matplotlib font coverage notes
    "findfont",
)


class NonEmptyPath(click.Path):
    """click.Path that refuses '' (which would silently mean the current folder)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path names nothing", param, ctx)
        return super().convert(value, param, ctx)


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


def _log(msg: str) -> None:
    click.echo(msg, err=True)


# bench.engine.train.COMPILE_MODES, spelled out here so that the CLI starts without importing torch.
COMPILE_CHOICE = click.Choice(["none", "default", "reduce-overhead"])

_DATA_OPTIONS = [
    click.option("--data-dir", type=NonEmptyPath(file_okay=False, path_type=Path), envvar="BENCH_DATA_DIR",
                 default=None, help="CIFAR-10 root (holds cifar-10-batches-py/). Env: BENCH_DATA_DIR. "
                                    "Default: ~/.cache/bench/cifar10."),
    click.option("--download/--no-download", default=True, show_default=True,
                 help="Download CIFAR-10 (and VGG16 weights) through torchvision when missing."),
    click.option("--verify/--no-verify", default=True, show_default=True,
                 help="Check the pixel arrays' SHA-256 against the published values."),
    click.option("--profile", "profile_name", type=click.Choice(["full", "smoke"]), default="full",
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


def _activate(models_from, protocol_file):
    """Plug in entry-point and --models-from models, then read the protocol file; returns the Protocol."""
    from bench.models.plugins import activate

    ctx = click.get_current_context()
    return activate(models_from, protocol_file, debug=bool(ctx.find_root().obj and ctx.find_root().obj.get("debug")))


_TRAIN_OPTIONS = [
    click.option("--artifacts", "artifacts_dir", type=NonEmptyPath(file_okay=False, path_type=Path), default=None,
                 help="Run directory for artifacts. Default: artifacts/<profile>."),
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True),
    click.option("--precision", type=click.Choice(["fp32", "bf16"]), default=None,
                 help="Default: bf16 autocast on CUDA, fp32 on CPU."),
    click.option("--input-pipeline", type=click.Choice(["fast", "torchvision"]), default="fast",
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
    click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                 help="Where the model x seed jobs run: in this process, or as Ray tasks (pip install bench[ray])."),
    click.option("--ray-address", default=None,
                 help="Ray cluster to join ('auto': the one `ray start --head` started). Default: a local instance."),
    click.option("--cpus-per-job", type=click.IntRange(1, 256), default=None,
                 help="Ray: CPUs and torch threads per job. Default: the thread count a local run uses here, "
                      "which keeps results bitwise equal to a local run's."),
    click.option("--gpus-per-job", type=click.FloatRange(0, 8), default=0.0, show_default=True,
                 help="Ray: GPUs per job; a fraction (0.25) packs several jobs on one GPU."),
    click.option("--max-retries", type=click.IntRange(0, 100), default=2, show_default=True,
                 help="Ray: re-runs of an epoch lost with its worker or node before the job counts as failed."),
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


@click.group(name="bench", cls=BenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bench")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx, debug):
    """Reproducible CIFAR-10 benchmark: train the study's four models and report on them."""
    ctx.obj = {"debug": debug}


def main() -> None:
    """The `bench` console script; Ctrl-C even during start-up exits 130 with one line."""
    try:
        cli(prog_name="bench")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


def _run_training(models, *, protocol, data_dir, download, verify, profile_name, artifacts_dir, device, precision,
                  input_pipeline, num_workers, seed, seeds, epochs, vgg_weights, pretrained, frozen_blocks,
                  image_size, compile_mode, deterministic, force, dry_run, executor, ray_address, cpus_per_job,
                  gpus_per_job, max_retries) -> Path:
    from bench.data.cifar10 import default_data_dir
    from bench.models.registry import resolve_vgg_weights
    from bench.protocol import get_profile, spec_for
    from bench.runner.study import ExecutorOptions, command_line, plan_training, prepare_data, run_plan
    from bench.engine.train import RunOptions, resolve_device, resolve_precision

    profile = get_profile(profile_name)
    seed_list = parse_seeds(seeds) if seeds is not None else [seed]
    if executor == "ray":
        from bench.executors.ray import require_ray

        require_ray()
        # The driver need not have the GPUs its cluster has.
        dev = "cuda" if device == "cuda" or (device == "auto" and gpus_per_job > 0) else resolve_device(device)
    else:
        if ray_address or cpus_per_job or gpus_per_job:
            raise BenchError("--ray-address, --cpus-per-job and --gpus-per-job need --executor ray")
        dev = resolve_device(device)
    if dev == "cuda" and executor == "ray" and gpus_per_job == 0:
        raise BenchError("--device cuda with --executor ray needs --gpus-per-job (e.g. 1, or 0.25 to pack four jobs)")
    options = RunOptions(device=dev, precision=resolve_precision(precision, dev), pipeline=input_pipeline,
                         num_workers=num_workers, deterministic=deterministic, compile=compile_mode)
    out = artifacts_dir or ARTIFACTS_ROOT / profile.name
    data_dir = data_dir or default_data_dir()
    if dry_run:
        plan = {"artifacts": str(out), "data_dir": str(data_dir), "profile": profile.name, "seeds": seed_list,
                "options": options.__dict__,
                "models": {m: spec_for(m, profile, protocol=protocol, epochs=epochs).to_dict() for m in models}}
        click.echo(json.dumps(plan, indent=2))
        return out
    from bench.rundir import layout as art
    # Everything that can fail on bad input is checked before the first write: the destination,
    # the weights, the data, every model's protocol, then (under the lock) the run directory.
    art.check_writable_dir(out)
    vgg = resolve_vgg_weights(vgg_weights, pretrained=pretrained, download=download) if "vgg16" in models else None
    data, splits, facts = prepare_data(data_dir, profile, download=download, verify=verify)
    import torch

    # A Ray job's thread count is its CPU count; defaulting it to ours keeps results bitwise equal.
    threads = (cpus_per_job or torch.get_num_threads()) if executor == "ray" else None
    plan = plan_training(models, seed_list, data=data, splits=splits, facts=facts, profile=profile, options=options,
                         out=out, vgg=vgg, vgg_weights=vgg_weights, frozen_blocks=frozen_blocks,
                         image_size=image_size, epochs=epochs, protocol=protocol, threads=threads)
    if deterministic and dev == "cuda":
        _log("warning: --deterministic forces deterministic CUDA kernels and disables cuDNN autotuning; "
             "expect slower training")
    run_plan(plan, force=force, show_progress=sys.stderr.isatty() and executor == "local", log=_log,
             command=click.get_current_context().meta.get("bench.argv", command_line()),
             executor=ExecutorOptions(executor, ray_address, threads or 1, gpus_per_job, max_retries))
    _log(f"artifacts in {out}")
    return out


@cli.command()
@click.argument("models", nargs=-1, required=True)
@data_options
@train_options
@plugin_options
def train(models, models_from, protocol_file, **kwargs):
    """Train MODELS (see `bench models`) and save their artifacts."""
    from bench.models.registry import get_entry

    protocol = _activate(models_from, protocol_file)
    for m in models:
        get_entry(m)
    if len(set(models)) != len(models):
        raise BenchError(f"a model is named twice: {' '.join(models)}")
    _run_training(list(models), protocol=protocol, **kwargs)


def report_language_options(fn):
    """--lang and --digits of the commands that write a report (bench/i18n.py)."""
    from bench.render.i18n import DIGITS, languages

    fn = click.option("--digits", type=click.Choice(DIGITS), default="native", show_default=True,
                      help="Digits of the report's numbers: the language's own (Persian ۰-۹ for fa) or latin.")(fn)
    return click.option("--lang", type=click.Choice(languages()), default="en", show_default=True,
                        help="Language of the report (fa: Persian, right to left).")(fn)


@cli.command(name="all")
@data_options
@train_options
@click.option("--out", type=NonEmptyPath(dir_okay=False, path_type=Path), default=None,
              help="Report file (.pdf or .html; both are written, but only HTML for .html where WeasyPrint/Pango "
                   "is missing). Default: report.pdf in the artifacts directory.")
@click.option("--title", default=None, help="Report title.")
@click.option("--author", default="", help="Report author.")
@click.option("--affiliation", default="", help="Author's affiliation.")
@report_language_options
@plugin_options
def all_(out, title, author, affiliation, lang, digits, models_from, protocol_file, **kwargs):
    """Train every model of the study (the protocol's `study` list), then write the report."""
    from bench.data.cifar10 import default_data_dir
    from bench.render.i18n import Language

    Language(lang, digits)  # a language that cannot be loaded fails now, not after the training
    protocol = _activate(models_from, protocol_file)
    report_out = out
    if report_out is not None:
        from bench.render.report import check_out_path

        # Fail before hours of training, not after; the run directory itself is made by training.
        check_out_path(report_out, pending_dir=kwargs["artifacts_dir"] or ARTIFACTS_ROOT / kwargs["profile_name"])
    run_dir = _run_training(list(protocol.study), protocol=protocol, **kwargs)
    if kwargs["dry_run"]:
        return
    from bench.render.report import render_report

    report_out = report_out or run_dir / "report.pdf"
    written = render_report(run_dir, report_out, title=title, author=author, affiliation=affiliation,
                            data_dir=kwargs["data_dir"] or default_data_dir(), log=_log, lang=lang, digits=digits)
    for path in written:
        _log(f"wrote {path}")


@cli.command()
@data_options
@click.option("--artifacts", "artifacts_dir", type=NonEmptyPath(file_okay=False, path_type=Path), default=None,
              help="Where to save dataset.json and samples.png. Default: artifacts/<profile>.")
@click.option("--per-class", type=click.IntRange(1, 32), default=10, show_default=True,
              help="Images per class in the sample grid.")
def data(data_dir, download, verify, profile_name, artifacts_dir, per_class):
    """Load, verify and describe CIFAR-10 and the study's split."""
    from bench.rundir import layout as art
    from bench.data.cifar10 import default_data_dir
    from bench.protocol import get_profile
    from bench.rundir.rundir import RunLock
    from bench.runner.study import prepare_data, write_data_artifacts

    profile = get_profile(profile_name)
    out = artifacts_dir or ARTIFACTS_ROOT / profile.name
    art.check_writable_dir(out)
    data_obj, _, facts = prepare_data(data_dir or default_data_dir(), profile, download=download, verify=verify)
    with RunLock(out):
        write_data_artifacts(out, data_obj, facts, grid_per_class=per_class)
    click.echo(f"classes: {', '.join(facts['classes'])}")
    click.echo(f"{'class':<12}" + "".join(f"{s:>11}" for s in ("train_file", "test_file", "train", "val", "test")))
    for c in facts["classes"]:
        click.echo(f"{c:<12}" + "".join(f"{facts['counts'][s][c]:>11,}"
                                        for s in ("train_file", "test_file", "train", "val", "test")))
    for split, shape in facts["shapes"].items():
        click.echo(f"shape {split}: {tuple(shape)}")
    norm = facts["normalisation"]
    click.echo("normalisation (from the training split): mean " + ", ".join(f"{v:.4f}" for v in norm["mean"])
               + " | std " + ", ".join(f"{v:.4f}" for v in norm["std"]))
    for split, c in facts["checksums"].items():
        verdict = "not checked (--no-verify)" if c["ok"] is None else ("OK" if c["ok"] else "MISMATCH")
        click.echo(f"pixel sha256 {split}: {verdict}" + (f" ({c['sha256']})" if c["sha256"] else ""))
    click.echo(f"sample grid: {out / 'samples.png'}")


@cli.command()
@click.option("--profile", "profile_name", type=click.Choice(["full", "smoke"]), default="full", show_default=True)
@plugin_options
def models(profile_name, models_from, protocol_file):
    """List the registered models (built-in and plugged in), their sizes, sources and protocols."""
    from bench.models.registry import count_parameters, create_model, describe_source, get_entry, model_names
    from bench.protocol import get_profile, spec_for

    protocol = _activate(models_from, protocol_file)
    profile = get_profile(profile_name)
    for name in model_names():
        entry = get_entry(name)
        params = count_parameters(create_model(name))
        spec = spec_for(name, profile, protocol=protocol)
        phases = ", ".join(f"{p.lr:g}x{p.epochs}" for p in spec.phases)
        study = " [study]" if name in protocol.study else ""
        click.echo(f"{name:<8} {entry.title:<20} {params['total']:>11,} params ({params['trainable']:,} trainable)"
                   f"{study}")
        click.echo(f"{'':<8} {entry.description}")
        click.echo(f"{'':<8} source: {describe_source(entry.source)}")
        click.echo(f"{'':<8} {spec.optimizer}, lr phases {phases} ({spec.epochs} epochs), weight decay "
                   f"{spec.weight_decay:g}, batch {spec.batch_size}"
                   + (f", backbone lr x{spec.backbone_lr_scale:g}" if spec.backbone_lr_scale != 1 else ""))


@cli.command()
@plugin_options
def protocol(models_from, protocol_file):
    """Print the active protocol (built-in, plus --protocol FILE) as TOML: a starting point for your own."""
    from bench.models.registry import model_names
    from bench.models.plugins import protocol_toml

    active = _activate(models_from, protocol_file)
    click.echo(protocol_toml(active, model_names()), nl=False)


@cli.command()
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--models", "model_list", default="mlp,cnn,cnn_bn,vgg16", show_default=True,
              help="Comma-separated models to time.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default=None,
              help="Default: bf16 on CUDA, fp32 on CPU.")
@click.option("--steps", type=click.IntRange(1, 10000), default=20, show_default=True,
              help="Timed steps per measurement.")
@click.option("--warmup", type=click.IntRange(0, 1000), default=5, show_default=True, help="Untimed steps first.")
@click.option("--repeats", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Rounds of every measurement, run round-robin; the table shows medians. Use 3+ on a noisy machine.")
@click.option("--num-workers", type=WORKERS_RANGE, default=None,
              help="DataLoader workers of the torchvision pipeline. Default: min(4, CPU count), as the study.")
@click.option("--compile", "compile_mode", type=COMPILE_CHOICE, default="none", show_default=True,
              help="torch.compile every measurement; its compile time shows as warm-up.")
@click.option("--out", type=NonEmptyPath(dir_okay=False, path_type=Path), default=None,
              help="JSON results. Default: artifacts/speed-<device>.json.")
def speed(device, model_list, precision, steps, warmup, repeats, num_workers, compile_mode, out):
    """Benchmark training throughput of the fast and torchvision input pipelines, side by side."""
    import os

    from bench.rundir import layout as art
    from bench.models.registry import get_entry, model_names
    from bench.runner.speed import format_table, run_speed
    from bench.engine.train import resolve_device, resolve_precision, versions, device_name

    names = [m.strip() for m in model_list.split(",") if m.strip()]
    if not names:
        raise BenchError(f"--models names no model; choose from: {', '.join(model_names())}")
    for m in names:
        get_entry(m)
    out = out or ARTIFACTS_ROOT / f"speed-{resolve_device(device)}.json"
    if out.suffix.lower() != ".json":
        raise BenchError(f"--out must end in .json, got {out.name!r}")
    art.check_writable_dir(out.parent, what="--out folder")  # before minutes of timing, not after
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    workers = num_workers if num_workers is not None else min(4, os.cpu_count() or 1)
    result = run_speed(names, device=dev, precision=prec, steps=steps, warmup=warmup, num_workers=workers,
                       compile_mode=compile_mode, repeats=repeats, log=_log)
    result.update(device_name=device_name(dev), versions=versions())
    click.echo(format_table(result))
    art.write_json(out, result)
    _log(f"saved {out}")


@cli.command()
@click.argument("artifacts_dir", type=NonEmptyPath(path_type=Path))
@click.option("--data-dir", type=NonEmptyPath(file_okay=False, path_type=Path), envvar="BENCH_DATA_DIR", default=None,
              help="CIFAR-10 root. Env: BENCH_DATA_DIR.")
@click.option("--download/--no-download", default=True, show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None,
              help="Default: the device type the run was recorded on.")
@click.option("--vgg-weights", type=NonEmptyPath(dir_okay=False, path_type=Path), envvar="BENCH_VGG16_WEIGHTS",
              default=None, help="Local VGG16 features state_dict. Env: BENCH_VGG16_WEIGHTS.")
@click.option("--models", "model_list", default=None, help="Comma-separated models to verify (default: all).")
@click.option("--models-from", "models_from", type=ModelsFrom(), multiple=True, envvar="BENCH_MODELS_FROM",
              help="The files or modules of plugged-in models in the run (as given to `bench train`).")
def verify(artifacts_dir, data_dir, download, device, vgg_weights, model_list, models_from):
    """Re-run a recorded run from its configs and check the results are bitwise identical."""
    from bench.data.cifar10 import default_data_dir
    from bench.runner.study import verify_run
    from bench.engine.train import resolve_device

    _activate(models_from, None)
    if device:
        resolve_device(device)
    models = [m.strip() for m in model_list.split(",")] if model_list else None
    rows, notes = verify_run(artifacts_dir, data_dir=data_dir or default_data_dir(), device=device,
                             vgg_weights=vgg_weights, download=download, models=models, log=_log)
    if notes:
        click.echo("environment differs from the recorded run, so bitwise equality is not expected: "
                   + "; ".join(notes))
    for r in rows:
        detail = "" if r["status"] != "different" else \
            f" (max |logit diff| {r['max_logit_diff']:.3g}, max history diff {r['max_history_diff']:.3g})"
        click.echo(f"{r['model']:<8} seed {r['seed']}: {r['status']}{detail}")
    if any(r["status"] == "different" for r in rows):
        raise click.exceptions.Exit(1)


@cli.command()
@click.argument("artifacts_dir", type=NonEmptyPath(path_type=Path))
@click.option("--out", type=NonEmptyPath(dir_okay=False, path_type=Path), default=Path("report.pdf"),
              show_default=True, help="Report file (.pdf or .html); the other format and summary.json are "
                                      "written beside it (for .html, no PDF where WeasyPrint/Pango is missing).")
@click.option("--title", default=None, help="Report title.")
@click.option("--author", default="", help="Report author.")
@click.option("--affiliation", default="", help="Author's affiliation.")
@click.option("--data-dir", type=NonEmptyPath(file_okay=False, path_type=Path), envvar="BENCH_DATA_DIR", default=None,
              help="CIFAR-10 root, only for the gallery of confident mistakes (optional).")
@report_language_options
def report(artifacts_dir, out, title, author, affiliation, data_dir, lang, digits):
    """Render the HTML and PDF report from ARTIFACTS_DIR alone."""
    from bench.render.report import render_report

    for path in render_report(artifacts_dir, out, title=title, author=author, affiliation=affiliation,
                              data_dir=data_dir, log=_log, lang=lang, digits=digits):
        _log(f"wrote {path}")


@cli.group(name="export")
def export_group():
    """Export a run directory to TensorBoard or MLflow (optional extras: pip install "bench[tensorboard]",
    "bench[mlflow]"). Exporting again skips what is unchanged and replaces what changed."""


@export_group.command(name="tensorboard")
@click.argument("run_dir", type=NonEmptyPath(path_type=Path))
@click.option("--logdir", type=NonEmptyPath(file_okay=False, path_type=Path), required=True,
              help="TensorBoard log directory; each seed goes to <logdir>/<model>/seed-<n>.")
def export_tensorboard_cmd(run_dir, logdir):
    """Write RUN_DIR's histories, test metrics, hyperparameters and confusion matrices as TensorBoard events."""
    from bench.export.tensorboard import export_tensorboard

    for line in export_tensorboard(run_dir, logdir).lines():
        click.echo(line)


@export_group.command(name="mlflow")
@click.argument("run_dir", type=NonEmptyPath(path_type=Path))
@click.option("--tracking-uri", default="sqlite:///mlflow.db", show_default=True,
              help="MLflow tracking URI: a database (sqlite:///PATH, postgresql://...) or an http(s) tracking server.")
@click.option("--experiment", default=None, help="Experiment name. Default: the run directory's folder name.")
def export_mlflow_cmd(run_dir, tracking_uri, experiment):
    """Log RUN_DIR's seeds as MLflow runs: parameters, per-epoch and test metrics, and artifacts."""
    from bench.export.mlflow import export_mlflow

    for line in export_mlflow(run_dir, tracking_uri, experiment).lines():
        click.echo(line)


@cli.command()
@click.argument("run_a", type=NonEmptyPath(path_type=Path))
@click.argument("run_b", type=NonEmptyPath(path_type=Path))
@click.option("--out", type=NonEmptyPath(dir_okay=False, path_type=Path), default=Path("compare.pdf"),
              show_default=True, help="Comparison file: .pdf writes PDF + HTML, .html only HTML; "
                                      "<out>.summary.json is written beside it.")
@click.option("--title", default=None, help="Title of the comparison.")
def compare(run_a, run_b, out, title):
    """Compare two run directories: paired tests where they share a test set, and every setting that differs."""
    from bench.results.compare import check_out, format_table, write_compare

    check_out(out)
    summary, written = write_compare(run_a, run_b, out, title=title)
    click.echo(format_table(summary))
    for path in written:
        _log(f"wrote {path}")
