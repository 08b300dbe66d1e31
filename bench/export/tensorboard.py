"""`bench export tensorboard RUN --logdir DIR`: one TensorBoard run per model and seed.

Each seed becomes the event folder ``DIR/<model>/seed-<n>/`` holding:

- scalars per epoch (step = epoch, wall time = when the epoch ended): ``train/loss``,
  ``train/accuracy``, ``val/loss``, ``val/accuracy``, ``lr``, ``time/epoch_seconds``;
- the test metrics at the last epoch: ``test/accuracy``, ``test/loss``, ``test/macro_precision``,
  ``test/macro_recall``, ``test/macro_f1``; the status (complete, diverged, incomplete) and the
  fingerprints as text (``bench/run``);
- the HParams plugin's records: the seed's hyperparameters (`bench.export.hparams`) and, as
  metrics, ``test/accuracy`` and ``test/loss``; every run carries the same experiment record
  (the union of all seeds' hyperparameters), so the HParams table has one column per value;
- the confusion matrix as an image (``test/confusion_matrix``);
- ``bench-export.json``: the run directory's fingerprint, model, seed, the seed's fingerprint and
  the export digest.

Exporting again (the dedup rule): an event folder whose ``bench-export.json`` names the same run
directory fingerprint, model and seed is skipped when its digest is unchanged and replaced (written
beside, then swapped in) when the seed changed. A folder that holds anything else (another run
directory's export, or events without ``bench-export.json``) is refused before anything is
written: remove it or choose another ``--logdir``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from bench.rundir import layout as art
from bench.errors import BenchError
from bench.rundir.rundir import load_artifacts
from bench.export import (CONFUSION_TAG, EPOCH_METRICS, ExportSummary, confusion_png, digest, epoch_times, hparams,
               install_hint, label, test_metrics)

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
    from bench.export import as_text

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
            ("run directory fingerprint", artifacts.manifest["fingerprint"]),
            ("model", f"{run.model} ({run.config.get('title', run.model)})"), ("seed", str(run.seed)),
            ("seed fingerprint", run.config.get("fingerprint", "")), ("status", status),
            ("epochs", str(len(run.history)))]
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def _write_seed(folder: Path, artifacts, run, hp: dict, schema: dict, marker: dict) -> None:
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
    art.write_json(folder / MARKER, marker)


def _read_marker(folder: Path) -> dict | None:
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def export_tensorboard(run_dir: Path, logdir: Path) -> ExportSummary:
    """Write (or bring up to date) one TensorBoard run per model and seed of `run_dir` under `logdir`."""
    _require()
    artifacts = load_artifacts(run_dir)
    logdir = Path(logdir)
    art.check_writable_dir(logdir, what="--logdir")
    fingerprint = artifacts.manifest["fingerprint"]
    runs = [r for m in artifacts.models() for r in artifacts.of(m)]
    all_hp = [{**hparams(r), "status": r.status} for r in runs]
    schema = _hparam_schema(all_hp)

    # Decide everything before writing anything: a refusal leaves the logdir as it was.
    plan = []
    for run, hp in zip(runs, all_hp):
        folder = logdir / run.model / f"seed-{run.seed}"
        marker = {"fingerprint": fingerprint, "model": run.model, "seed": run.seed,
                  "config_fingerprint": run.config.get("fingerprint"),
                  "digest": digest(artifacts, run, extra={"exporter": "tensorboard", "hparams": schema}),
                  "run_dir": str(Path(artifacts.root).resolve())}
        action = "new"
        if folder.exists() or folder.is_symlink():
            old = _read_marker(folder) if folder.is_dir() else None
            if old is None:
                if not folder.is_dir() or any(folder.iterdir()):
                    raise BenchError(f"{folder} already exists and was not written by bench export; remove it "
                                     "or choose another --logdir")
            elif (old.get("fingerprint"), old.get("model"), old.get("seed")) != (fingerprint, run.model, run.seed):
                raise BenchError(f"{folder} holds the export of another run directory ({old.get('run_dir')}, "
                                 f"fingerprint {old.get('fingerprint')}; this one is {fingerprint}); remove it "
                                 "or choose another --logdir")
            else:
                action = "skip" if old.get("digest") == marker["digest"] else "update"
        plan.append((run, hp, folder, marker, action))

    summary = ExportSummary(target=f"TensorBoard logdir {logdir}", view=f"tensorboard --logdir {logdir}")
    for run, hp, folder, marker, action in plan:
        if action == "skip":
            summary.skipped.append(label(run))
            continue
        parent = art.ensure_dir(folder.parent)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=parent))
        except OSError as exc:
            raise art.os_error(folder, exc) from None
        try:
            _write_seed(tmp, artifacts, run, _coerce(hp, schema), schema, marker)
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
        (summary.updated if action == "update" else summary.exported).append(label(run))
    return summary
