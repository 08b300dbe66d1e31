"""`bench export tensorboard RUN --logdir DIR`: one TensorBoard run per model and seed.

Each run directory gets its own folder ``DIR/<name>-<id>/`` (its folder name and the first 8
characters of its identity, `bench.export.base.run_identity`), and each seed in it the event folder
``<model>/seed-<n>/``, holding:

- scalars per epoch (step = epoch, wall time = when the epoch ended): ``train/loss``,
  ``train/accuracy``, ``val/loss``, ``val/accuracy``, ``lr``, ``time/epoch_seconds``;
- the test metrics at the last epoch: ``test/accuracy``, ``test/loss``, ``test/macro_precision``,
  ``test/macro_recall``, ``test/macro_f1``; the status (complete, diverged, incomplete) and the
  fingerprints as text (``bench/run``);
- the HParams plugin's records: the seed's hyperparameters (`bench.export.base.hparams`) and, as
  metrics, ``test/accuracy`` and ``test/loss``; every run carries the same experiment record
  (the union of all seeds' hyperparameters), so the HParams table has one column per value;
- the confusion matrix as an image (``test/confusion_matrix``);
- ``bench-export.json``: the export record (`bench.export.base.ExportRecord`).

Exporting again: the records under ``DIR/*/<model>/seed-<n>/`` are read back and
`bench.export.base.plan_exports` decides; a changed seed is written beside its old folder and then
swapped in. Other run directories' folders are never touched, so several runs share one logdir and
TensorBoard shows them side by side. A folder in the way that bench did not write is refused before
anything is written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from bench.errors import BenchError
from bench.export.base import (CONFUSION_TAG, EPOCH_METRICS, ExportRecord, ExportSummary, PlanStep, as_text,
                               confusion_png, epoch_times, export_digest, hparams, install_hint, plan_exports,
                               record_for, run_identity, test_metrics)
from bench.rundir import layout as art
from bench.rundir.rundir import Artifacts, load_artifacts

MARKER = "bench-export.json"
HPARAM_METRICS = ("test/accuracy", "test/loss")


def _require():
    """TensorBoard's writer (torch.utils.tensorboard) and the protos it writes, or the install hint."""
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it; checked first for a clear message)
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise install_hint("tensorboard", "TensorBoard", "tensorboard") from None
    return SummaryWriter, Summary, api_pb2, metadata, plugin_data_pb2


def _hparam_schema(all_hparams: list[dict]) -> dict[str, str]:
    """name -> 'bool' | 'number' | 'string': one type per name across all seeds (mixed types become strings)."""
    kinds: dict[str, set] = {}
    for hp in all_hparams:
        for k, v in hp.items():
            kinds.setdefault(k, set()).add("bool" if isinstance(v, bool) else
                                           "number" if isinstance(v, (int, float)) else "string")
    return {k: next(iter(v)) if len(v) == 1 else "string" for k, v in sorted(kinds.items())}


def _coerce(hp: dict, schema: dict[str, str]) -> dict:
    return {k: (as_text(v) if schema[k] == "string" and not isinstance(v, str) else v) for k, v in hp.items()}


def _hparam_summaries(hp: dict, schema: dict[str, str], status: str, start: float, end: float):
    """The HParams plugin's three summaries (experiment, session start, session end) for one seed."""
    _, Summary, api_pb2, metadata, plugin_data_pb2 = _require()
    types = {"bool": api_pb2.DATA_TYPE_BOOL, "number": api_pb2.DATA_TYPE_FLOAT64,
             "string": api_pb2.DATA_TYPE_STRING}
    experiment = api_pb2.Experiment(
        hparam_infos=[api_pb2.HParamInfo(name=k, type=types[t]) for k, t in schema.items()],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=t)) for t in HPARAM_METRICS])
    start_info = plugin_data_pb2.SessionStartInfo(start_time_secs=start)
    for k, v in hp.items():
        if isinstance(v, bool):
            start_info.hparams[k].bool_value = v
        elif isinstance(v, (int, float)):
            start_info.hparams[k].number_value = float(v)
        else:
            start_info.hparams[k].string_value = v
    end_status = {"complete": api_pb2.STATUS_SUCCESS, "diverged": api_pb2.STATUS_FAILURE}.get(
        status, api_pb2.STATUS_UNKNOWN)
    end_info = plugin_data_pb2.SessionEndInfo(status=end_status, end_time_secs=end)
    out = []
    for tag, data in ((metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)),
                      (metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start_info)),
                      (metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end_info))):
        data.version = metadata.PLUGIN_DATA_VERSION
        out.append(Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data),
                                                tensor=metadata.NULL_TENSOR)]))
    return out


def _image_summary(tag: str, png: bytes):
    _, Summary, *_ = _require()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the PNG IHDR chunk
    return Summary(value=[Summary.Value(tag=tag, image=Summary.Image(height=height, width=width, colorspace=4,
                                                                      encoded_image_string=png))])


def run_text(artifacts, run, status: str) -> str:
    """The ``bench/run`` text: which run directory, model and seed this is, as a Markdown table."""
    rows = [("run directory", str(Path(artifacts.root).resolve())),
            ("run directory identity", run_identity(artifacts.manifest)),
            ("run directory fingerprint", artifacts.manifest["fingerprint"]),
            ("model", f"{run.model} ({run.config.get('title', run.model)})"), ("seed", str(run.seed)),
            ("seed fingerprint", run.config.get("fingerprint", "")), ("status", status),
            ("epochs", str(len(run.history)))]
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def _write_seed(folder: Path, artifacts: Artifacts, run, hp: dict, schema: dict, record: ExportRecord) -> None:
    SummaryWriter, *_ = _require()
    start, ends, end = epoch_times(artifacts.manifest, run)
    status = run.status
    last = len(run.history)
    writer = SummaryWriter(log_dir=str(folder), flush_secs=3600, max_queue=1000)
    try:
        fw = writer._get_file_writer()
        for summary in _hparam_summaries(hp, schema, status, start, end):
            fw.add_summary(summary, 0, start)
        for row, walltime in zip(run.history, ends):
            for column, tag in EPOCH_METRICS.items():
                writer.add_scalar(tag, float(row[column]), row["epoch"], walltime=walltime)
        for tag, value in test_metrics(run).items():
            writer.add_scalar(tag, value, last, walltime=end)
        writer.add_text("bench/run", run_text(artifacts, run, status), last, walltime=end)
        png = confusion_png(run, artifacts.dataset["classes"])
        if png is not None:
            fw.add_summary(_image_summary(CONFUSION_TAG, png), last, end)
    finally:
        writer.close()
    art.write_json(folder / MARKER, record.to_dict())


def run_folder(artifacts: Artifacts) -> str:
    """'<run directory name>-<first 8 characters of its identity>': readable in TensorBoard's run list, and
    distinct for two run directories of the same name."""
    identity = run_identity(artifacts.manifest)[:8]
    name = Path(artifacts.root).resolve().name
    return f"{name}-{identity}" if name else identity


def held_records(logdir: Path) -> list[tuple[ExportRecord, Path]]:
    """Every export record under `logdir`, with its event folder: only ``<run>/<model>/seed-<n>`` folders
    whose record names that same model and seed (a record moved elsewhere by hand is not trusted)."""
    out = []
    for path in sorted(Path(logdir).glob(f"*/*/seed-*/{MARKER}")):
        try:
            record = ExportRecord.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
        folder = path.parent
        if record is not None and (folder.parent.name, folder.name) == (record.model, art.seed_folder(record.seed)):
            out.append((record, folder))
    return out


def _check_free(folder: Path) -> None:
    """A new seed's folder must be absent or empty: never write into what someone else put there."""
    if not (folder.exists() or folder.is_symlink()):
        return
    if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
        return
    try:
        other = ExportRecord.from_dict(json.loads((folder / MARKER).read_text()))
    except (OSError, ValueError):
        other = None
    if other is not None:
        raise BenchError(f"{folder} holds the export of another run directory ({other.run_dir}, identity "
                         f"{other.identity}); remove it or choose another --logdir")
    raise BenchError(f"{folder} already exists and was not written by bench export; remove it "
                     "or choose another --logdir")


def _write_swapped(folder: Path, write) -> None:
    """Write a seed's folder beside its final place, then move it in (replacing an older export of it):
    an interrupted export leaves either the old folder or the new one, never half of one."""
    parent = art.ensure_dir(folder.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise art.os_error(folder, exc) from None
    try:
        write(tmp)
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=parent))
            os.replace(folder, old / folder.name)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except OSError as exc:
        raise art.os_error(folder, exc) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def export_tensorboard(run_dir: Path, logdir: Path) -> ExportSummary:
    """Write (or bring up to date) one TensorBoard run per model and seed of `run_dir` under `logdir`."""
    _require()
    artifacts = load_artifacts(run_dir)
    logdir = Path(logdir)
    art.check_writable_dir(logdir, what="--logdir")
    runs = [r for m in artifacts.models() for r in artifacts.of(m)]
    all_hp = {id(r): {**hparams(r), "status": r.status} for r in runs}
    schema = _hparam_schema(list(all_hp.values()))
    extra = {"exporter": "tensorboard", "hparams": schema}
    wanted = [(run, record_for(artifacts, run, export_digest(artifacts, run, extra=extra))) for run in runs]
    plan = plan_exports(wanted, held_records(logdir))

    # Every refusal before the first write: a refused export leaves the logdir as it was.
    home = logdir / run_folder(artifacts)
    targets = [_target(step, home) for step in plan]

    summary = ExportSummary(target=f"TensorBoard logdir {logdir}", view=f"tensorboard --logdir {logdir}")
    for step, folder in zip(plan, targets):
        summary.add(step)
        if folder is None:
            continue
        hp = _coerce(all_hp[id(step.run)], schema)
        _write_swapped(folder, lambda tmp, s=step, h=hp: _write_seed(tmp, artifacts, s.run, h, schema, s.record))
        _remove_copies(step)
    return summary


def _target(step: PlanStep, home: Path) -> Path | None:
    """Where a step writes: a new seed into this run directory's folder (which must be free), an update over
    the folder it replaces, a skipped seed nowhere."""
    if step.action == "skip":
        return None
    if step.action == "update":
        return step.replaces[0]
    folder = home / step.run.model / art.seed_folder(step.run.seed)
    _check_free(folder)
    return folder


def _remove_copies(step: PlanStep) -> None:
    """An update keeps one folder per seed: other copies of this same run directory's seed (a folder copied
    by hand) would show it twice in TensorBoard."""
    for folder in step.replaces[1:]:
        shutil.rmtree(folder, ignore_errors=True)
