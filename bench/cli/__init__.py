"""Command line: parses options, builds one request per command, and calls the runner, results and render
rooms; no logic of its own.

Exit statuses (bench.errors): 0 done; 1 an expected failure, printed as one `Error: ...` line; 2 a usage
error; 70 an internal error of bench (a bug, not a damaged file: one line naming the exception,
`bench --debug` shows its traceback); 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from bench.cli.group import BenchGroup
from bench.cli.options import (COMPILE_CHOICE, PROFILE_CHOICE, WORKERS_RANGE, FiniteFloatRange, ModelsFrom,
                               NonEmptyPath, activate_plugins, data_options, parse_seeds, plugin_options,
                               report_language_options, train_options)
from bench.config import Device, ExecutorOptions, Precision
from bench.errors import EXIT_INTERRUPTED, BenchError
from bench.protocol import STUDY
from bench.runner.request import ARTIFACTS_ROOT, TrainRequest  # no torch: the CLI starts fast
__all__ = ["cli", "main", "parse_seeds", "COMPILE_CHOICE"]  # what tests and the console script use


@click.group(name="bench", cls=BenchGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit status: 0 done; 1 an error, shown as one line; 2 a usage error; 70 an internal error of "
                    "bench (a bug, not your files: --debug shows its traceback); 130 interrupted.")
@click.version_option(package_name="bench")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx, debug):
    """Reproducible CIFAR-10 benchmark: train the study's four models and report on them."""
    ctx.obj = {"debug": debug}


def log(msg: str) -> None:
    """Progress and notes go to stderr; stdout carries only what a command prints as its result."""
    click.echo(msg, err=True)


def main() -> None:
    """The `bench` console script; Ctrl-C even during start-up exits 130 with one line."""
    try:
        cli(prog_name="bench")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


def train_request(models, *, protocol, seed, seeds, vgg_weights, frozen_blocks, image_size, executor, ray_address,
                  cpus_per_job, gpus_per_job, max_retries, ray_timeout, **options) -> TrainRequest:
    """The TrainRequest of `bench train`/`bench all` from their click options (the rest keep their names)."""
    command = click.get_current_context().meta.get("bench.argv") or ["bench", *sys.argv[1:]]
    return TrainRequest(
        models=tuple(models), seeds=tuple(parse_seeds(seeds) if seeds is not None else [seed]), protocol=protocol,
        weights_path=vgg_weights, model_settings={"frozen_blocks": frozen_blocks, "image_size": image_size},
        executor=ExecutorOptions(executor, ray_address, cpus_per_job or 0, gpus_per_job, max_retries, ray_timeout),
        command=tuple(command), **options)


def run_training(request: TrainRequest) -> Path:
    """Train what `request` asks (or, with --dry-run, print its plan); returns the run directory."""
    from bench.runner.run import plan_request, train

    if request.dry_run:
        click.echo(json.dumps(plan_request(request), indent=2))
        return request.out
    # A bar per epoch on a terminal; none in logs and pipes.
    progress = (lambda batches, label: click.progressbar(batches, label=label, file=sys.stderr)) \
        if sys.stderr.isatty() else None
    return train(request, log=log, progress=progress)


@cli.command()
@click.argument("models", nargs=-1, required=True)
@data_options
@train_options
@plugin_options
def train(models, models_from, protocol_file, **kwargs):
    """Train MODELS (see `bench models`) and save their artifacts."""
    from bench.models.registry import get_entry

    protocol = activate_plugins(models_from, protocol_file)
    for m in models:
        get_entry(m)
    if len(set(models)) != len(models):
        raise BenchError(f"a model is named twice: {' '.join(models)}")
    run_training(train_request(models, protocol=protocol, **kwargs))


@cli.command(name="all")
@data_options
@train_options
@click.option("--out", type=NonEmptyPath(dir_okay=False, path_type=Path), default=None,
              help="Report file (.pdf or .html; both are written, but only HTML for .html where WeasyPrint/Pango "
                   "is missing). Default: report.pdf in the artifacts directory.")
@click.option("--title", default=None, help="Report title.")
@click.option("--author", default="", help="Report author.")
@click.option("--affiliation", default="", help="Author's affiliation.")
@click.option("--no-evidence", is_flag=True, default=False,
              help="Do not embed the run's files, the summary and their index in the report's PDF.")
@report_language_options
@plugin_options
def all_(out, title, author, affiliation, no_evidence, lang, digits, models_from, protocol_file, **kwargs):
    """Train every model of the study (the protocol's `study` list), then write the report."""
    from bench.data.cifar10 import default_data_dir
    from bench.render.i18n import Language

    Language(lang, digits)  # a language that cannot be loaded fails now, not after the training
    protocol = activate_plugins(models_from, protocol_file)
    request = train_request(protocol.study, protocol=protocol, **kwargs)
    if out is not None:
        from bench.render.outputs import check_out

        # Fail before hours of training, not after; the run directory itself is made by training.
        check_out(out, pending_dir=request.out)
    run_dir = run_training(request)
    if request.dry_run:
        return
    from bench.render.report import render_report

    written = render_report(run_dir, out or run_dir / "report.pdf", title=title, author=author,
                            affiliation=affiliation, data_dir=request.data_dir or default_data_dir(), log=log,
                            lang=lang, digits=digits, evidence=not no_evidence)
    for path in written:
        log(f"wrote {path}")


@cli.command()
@data_options
@click.option("--artifacts", "artifacts_dir", type=NonEmptyPath(file_okay=False, path_type=Path), default=None,
              help="Where to save dataset.json and samples.png. Default: artifacts/<profile>.")
@click.option("--per-class", type=click.IntRange(1, 32), default=10, show_default=True,
              help="Images per class in the sample grid.")
def data(data_dir, download, verify, profile_name, artifacts_dir, per_class):
    """Load, verify and describe CIFAR-10 and the study's split."""
    from bench.data.cifar10 import default_data_dir
    from bench.protocol import get_profile
    from bench.rundir import layout as art
    from bench.rundir.rundir import RunDir
    from bench.runner.data import prepare_data, write_data_artifacts

    profile = get_profile(profile_name)
    out = artifacts_dir or ARTIFACTS_ROOT / profile.name
    art.check_writable_dir(out)
    data_obj, _, facts = prepare_data(data_dir or default_data_dir(), profile, download=download, verify=verify)
    with RunDir(out).lock():
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
@click.option("--profile", "profile_name", type=PROFILE_CHOICE, default="full", show_default=True)
@plugin_options
def models(profile_name, models_from, protocol_file):
    """List the registered models (built-in and plugged in), their sizes, sources and protocols."""
    from bench.models.registry import count_parameters, create_model, describe_source, get_entry, model_names
    from bench.protocol import get_profile, spec_for

    protocol = activate_plugins(models_from, protocol_file)
    profile = get_profile(profile_name)
    # Every model is built (and a plug-in probed) before the first line: a refusal is then the only output.
    built = {name: create_model(name) for name in model_names()}
    for name in model_names():
        entry = get_entry(name)
        params = count_parameters(built[name])
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

    active = activate_plugins(models_from, protocol_file)
    click.echo(protocol_toml(active, model_names()), nl=False)


@cli.command()
@click.option("--device", type=click.Choice(Device.values()), default="auto", show_default=True)
@click.option("--models", "model_list", default=",".join(STUDY), show_default=True,
              help="Comma-separated models to time.")
@click.option("--precision", type=click.Choice(Precision.values()), default=None,
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
    from bench.engine.env import resolve_device
    from bench.models.registry import get_entry, model_names
    from bench.rundir import layout as art
    from bench.runner.speed import format_table, measure

    names = [m.strip() for m in model_list.split(",") if m.strip()]
    if not names:
        raise BenchError(f"--models names no model; choose from: {', '.join(model_names())}")
    for m in names:
        get_entry(m)
    out = out or ARTIFACTS_ROOT / f"speed-{resolve_device(device)}.json"
    if out.suffix.lower() != ".json":
        raise BenchError(f"--out must end in .json, got {out.name!r}")
    art.check_writable_dir(out.parent, what="--out folder")  # before minutes of timing, not after
    result = measure(names, device=device, precision=precision, steps=steps, warmup=warmup, repeats=repeats,
                     num_workers=num_workers, compile_mode=compile_mode, log=log)
    click.echo(format_table(result))
    art.write_json(out, result)
    log(f"saved {out}")


def report_pdf_findings(pdf: Path) -> list[str]:
    """`bench verify X.pdf`'s four checks (bench.evidence.verify), with the report's own code passed in: the
    summary recomputed, and the page rendered again, from the extracted run directory by the functions
    `bench report` uses, in the report's language (the PDF's /Lang) and digits (those of its summary's words),
    with its title and author (the PDF's metadata); the numbers printed there are the ones the PDF may print.
    The affiliation is not in the PDF's metadata: a decimal number in it would be refused."""
    from bench.evidence import pdf_metadata, pdf_text, read_attachments
    from bench.evidence.collect import summary_names
    from bench.evidence.numbers import html_text
    from bench.evidence.verify import verify_files
    from bench.render import i18n
    from bench.render.report import analyse, build_context, load_artifacts, render_html

    meta = pdf_metadata(pdf)
    code = meta["language"] or i18n.SOURCE_LANGUAGE
    if code not in i18n.languages():
        raise BenchError(f"{pdf.name} is written in {code!r}, a language this bench cannot render "
                         f"({', '.join(i18n.languages())})")
    files = read_attachments(pdf)
    # Persian digits in the summary's words: the report was written with --digits native; else latin.
    try:
        words = json.dumps(json.loads(b"".join(files[n] for n in summary_names(files))), ensure_ascii=False)
    except ValueError:  # a damaged summary: the checks refuse it by name
        words = ""
    native = any("\u06f0" <= ch <= "\u06f9" for ch in words)
    language = i18n.Language(code, "native" if native or code == i18n.SOURCE_LANGUAGE else "latin")
    pages: dict[Path, tuple[dict, str]] = {}

    def page(run_dir: Path) -> tuple[dict, str]:
        if run_dir not in pages:
            artifacts = load_artifacts(run_dir)
            with i18n.activated(language):
                context = build_context(artifacts, analyse(artifacts), title=meta["title"] or None,
                                        author=meta["author"], affiliation="", data_dir=None)
                pages[run_dir] = context["summary"], render_html(context)
        return pages[run_dir]

    return verify_files(pdf, files, pdf_text(pdf), recompute=lambda d: page(d)[0],
                        formatted_numbers=lambda _summary, d: [html_text(page(d)[1])])


@cli.command()
@click.argument("artifacts_dir", metavar="RUN_DIR|REPORT.pdf", type=NonEmptyPath(path_type=Path))
@click.option("--data-dir", type=NonEmptyPath(file_okay=False, path_type=Path), envvar="BENCH_DATA_DIR", default=None,
              help="CIFAR-10 root. Env: BENCH_DATA_DIR.")
@click.option("--download/--no-download", default=True, show_default=True)
@click.option("--device", type=click.Choice([d for d in Device.values() if d != Device.AUTO]), default=None,
              help="Default: the device type the run was recorded on.")
@click.option("--vgg-weights", type=NonEmptyPath(dir_okay=False, path_type=Path), envvar="BENCH_VGG16_WEIGHTS",
              default=None, help="Local VGG16 features state_dict. Env: BENCH_VGG16_WEIGHTS.")
@click.option("--models", "model_list", default=None, help="Comma-separated models to verify (default: all).")
@click.option("--models-from", "models_from", type=ModelsFrom(), multiple=True, envvar="BENCH_MODELS_FROM",
              help="The files or modules of plugged-in models in the run (as given to `bench train`).")
@click.option("--retrain", is_flag=True, default=False,
              help="For REPORT.pdf: also retrain every embedded model/seed from its config and compare the "
                   "predictions bitwise (a run directory is always retrained).")
def verify(artifacts_dir, data_dir, download, device, vgg_weights, model_list, models_from, retrain):
    """Check a report or a run. REPORT.pdf: its embedded evidence (digests, every number recomputed from the
    embedded predictions, the printed numbers, the protocol), with nothing but the file; --retrain also
    retrains. RUN_DIR: re-run the recorded run from its configs and check the results are bitwise identical."""
    from bench.data.cifar10 import default_data_dir
    from bench.runner.verify import verify_run
    from bench.engine.env import resolve_device

    activate_plugins(models_from, None)
    pdf = artifacts_dir.suffix.lower() == ".pdf" and not artifacts_dir.is_dir()
    if pdf:
        # Only this branch imports bench.evidence's readers (pypdf) and the renderer.
        for line in report_pdf_findings(artifacts_dir):
            click.echo(line)
        if not retrain:
            return
    if device:
        resolve_device(device)
    models = [m.strip() for m in model_list.split(",")] if model_list else None
    options = dict(data_dir=data_dir or default_data_dir(), device=device, weights_path=vgg_weights,
                   download=download, models=models, log=log)
    if pdf:
        from bench.evidence import evidence_run

        with evidence_run(artifacts_dir) as run_dir:  # refusals name the PDF, not the temporary folder
            rows, notes = verify_run(run_dir, **options)
    else:
        rows, notes = verify_run(artifacts_dir, **options)
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
@click.argument("artifacts_dir", required=False, type=NonEmptyPath(path_type=Path))
@click.option("--from", "from_pdf", type=NonEmptyPath(dir_okay=False, path_type=Path), default=None,
              help="Render again from a report PDF's embedded evidence instead of ARTIFACTS_DIR.")
@click.option("--out", type=NonEmptyPath(dir_okay=False, path_type=Path), default=Path("report.pdf"),
              show_default=True, help="Report file (.pdf or .html); the other format and summary.json are "
                                      "written beside it (for .html, no PDF where WeasyPrint/Pango is missing).")
@click.option("--title", default=None, help="Report title.")
@click.option("--author", default="", help="Report author.")
@click.option("--affiliation", default="", help="Author's affiliation.")
@click.option("--data-dir", type=NonEmptyPath(file_okay=False, path_type=Path), envvar="BENCH_DATA_DIR", default=None,
              help="CIFAR-10 root, only for the gallery of confident mistakes (optional).")
@click.option("--no-evidence", is_flag=True, default=False,
              help="Do not embed the run's files, the summary and their index in the PDF (nor list them).")
@report_language_options
def report(artifacts_dir, from_pdf, out, title, author, affiliation, data_dir, no_evidence, lang, digits):
    """Render the HTML and PDF report from ARTIFACTS_DIR alone (or from the evidence of --from REPORT.pdf)."""
    from bench.render.report import render_report

    if (artifacts_dir is None) == (from_pdf is None):
        raise BenchError("give either ARTIFACTS_DIR or --from REPORT.pdf (one of them, not both)")
    options = dict(title=title, author=author, affiliation=affiliation, data_dir=data_dir, log=log, lang=lang,
                   digits=digits, evidence=not no_evidence)
    if from_pdf is not None:
        from bench.evidence import evidence_run
        from bench.render.outputs import check_out

        check_out(out)  # before the PDF is read and extracted
        with evidence_run(from_pdf) as run_dir:  # checked against its index and protocol first
            written = render_report(run_dir, out, **options)
    else:
        written = render_report(artifacts_dir, out, **options)
    for path in written:
        log(f"wrote {path}")


@cli.group(name="export")
def export_group():
    """Export a run directory to TensorBoard or MLflow (optional extras: pip install "bench[tensorboard]",
    "bench[mlflow]"). Exporting again skips what is unchanged and replaces what changed."""


@export_group.command(name="tensorboard")
@click.argument("run_dir", type=NonEmptyPath(path_type=Path))
@click.option("--logdir", type=NonEmptyPath(file_okay=False, path_type=Path), required=True,
              help="TensorBoard log directory; each run directory goes to <logdir>/<name>-<identity>/, each seed to "
                   "<model>/seed-<n> in it; other runs' exports are left alone.")
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
@click.option("--timeout", type=FiniteFloatRange(1, 3600), default=30.0, show_default=True,
              help="Seconds one call to the tracking server may take, retries included; an unreachable or silent "
                   "server ends the export with one line.")
def export_mlflow_cmd(run_dir, tracking_uri, experiment, timeout):
    """Log RUN_DIR's seeds as MLflow runs: parameters, per-epoch and test metrics, and artifacts."""
    from bench.export.mlflow import export_mlflow

    for line in export_mlflow(run_dir, tracking_uri, experiment, timeout=timeout).lines():
        click.echo(line)


@cli.command()
@click.argument("run_a", type=NonEmptyPath(path_type=Path))
@click.argument("run_b", type=NonEmptyPath(path_type=Path))
@click.option("--out", type=NonEmptyPath(dir_okay=False, path_type=Path), default=Path("compare.pdf"),
              show_default=True, help="Comparison file: .pdf writes PDF + HTML, .html only HTML; "
                                      "<out>.summary.json is written beside it.")
@click.option("--title", default=None, help="Title of the comparison.")
@report_language_options
def compare(run_a, run_b, out, title, lang, digits):
    """Compare two run directories: paired tests where they share a test set, and every setting that differs."""
    from bench.render.compare import format_table, write_compare
    from bench.render.outputs import check_out

    check_out(out)
    summary, written = write_compare(run_a, run_b, out, title=title, lang=lang, digits=digits)
    click.echo(format_table(summary))
    for path in written:
        log(f"wrote {path}")
