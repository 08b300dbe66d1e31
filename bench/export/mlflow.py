"""`bench export mlflow RUN [--tracking-uri URI] [--experiment NAME]`: one MLflow run per model and seed.

The experiment is named after the run directory (its folder name) unless ``--experiment`` says
otherwise; the tracking URI defaults to ``sqlite:///mlflow.db`` in the working directory (MLflow
then keeps the artifacts in ``./mlruns``). Each seed becomes a run named ``<model>/seed-<n>`` with:

- parameters: every value of its ``config.json``, flattened (``compute.spec.optimizer``); lists
  and other non-strings as compact JSON; keys reduced to MLflow's character set, values cut to
  its 6,000-character limit (`params`);
- metrics per epoch with ``step`` = epoch and the time each epoch ended (`bench.export.EPOCH_METRICS`),
  and the test metrics at the last epoch (`bench.export.TEST_METRICS`);
- artifacts: ``config.json``, ``history.csv``, ``metrics.json``, ``confusion_matrix.png`` and,
  under ``report/``, the report files at the run directory's top level (``*.pdf``, ``*.html``,
  ``*.summary.json``);
- tags: ``bench.fingerprint`` (the run directory's), ``bench.model``, ``bench.seed``,
  ``bench.config_fingerprint``, ``bench.status``, ``bench.run_dir`` and, set last,
  ``bench.export_digest``. The run ends FINISHED (complete), FAILED (diverged) or KILLED
  (incomplete).

Exporting again (the dedup rule): the experiment's runs tagged with the same run directory
fingerprint, model and seed are looked up; one that carries the same export digest is skipped;
otherwise (the seed or the report changed, or an earlier export was cut short) they are deleted
(MLflow's soft delete: ``mlflow gc`` purges them) and the seed is logged afresh.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from pathlib import Path

from bench.errors import BenchError
from bench.rundir.rundir import load_artifacts
from bench.export import (CONFUSION_FILE, EPOCH_METRICS, ExportSummary, as_text, confusion_png, digest, epoch_times, flat,
               install_hint, label, test_metrics)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
REPORT_PATTERNS = ("*.pdf", "*.html", "*.summary.json")
SEED_ARTIFACTS = ("config.json", "history.csv", "metrics.json")
MAX_PARAM_VALUE = 6000     # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
MAX_KEY = 250              # mlflow.utils.validation.MAX_ENTITY_KEY_LENGTH
BATCH = 100                # params/tags per log_batch call (MLflow's limit); metrics: 1000
DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
STATUS = {"complete": "FINISHED", "diverged": "FAILED"}


def _require():
    """MLflow's client and entities, or the install hint."""
    # MLflow 3 reports usage to its developers unless told not to; an export of local files should not
    # call out. A user who wants it can set MLFLOW_DISABLE_TELEMETRY=false.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        import mlflow  # noqa: F401
        from mlflow.entities import Metric, Param, RunTag, ViewType
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise install_hint("mlflow", "MLflow", "mlflow") from None
    return MlflowClient, Metric, Param, RunTag, ViewType, MlflowException


def _require_db_store(tracking_uri: str) -> None:
    """A database tracking URI (sqlite:///..., postgresql://...) needs SQLAlchemy and alembic, which
    mlflow-skinny leaves out (the bench[mlflow] extra adds them)."""
    scheme = tracking_uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in tracking_uri else ""
    if scheme not in DB_SCHEMES:
        return
    try:
        import alembic  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError:
        raise install_hint("mlflow", "SQLAlchemy and alembic for a database tracking URI", "mlflow") from None


def sanitise_key(key: str) -> str:
    """A config path as an MLflow key: alphanumerics, '_', '-', '.', ' ' (others become '_'), at most 250 chars."""
    key = re.sub(r"[^\w.\- ]", "_", key)
    key = re.sub(r"\.{2,}", ".", key).strip(". ") or "_"
    return key[:MAX_KEY]


def params(config: dict) -> dict[str, str]:
    """config.json as MLflow parameters: flattened, sanitised keys (made unique), values within the limit."""
    out: dict[str, str] = {}
    for key, value in flat(config).items():
        name = base = sanitise_key(key)
        n = 2
        while name in out:
            suffix = f"~{n}"
            name, n = base[:MAX_KEY - len(suffix)] + suffix, n + 1
        text = as_text(value)
        out[name] = text if len(text) <= MAX_PARAM_VALUE else text[:MAX_PARAM_VALUE - 1] + "\u2026"
    return out


def report_files(root: Path) -> list[Path]:
    """The report files at the run directory's top level (what `bench report --out` wrote there)."""
    found = {p for pattern in REPORT_PATTERNS for p in Path(root).glob(pattern) if p.is_file()}
    return sorted(found)


@contextlib.contextmanager
def _quiet():
    """MLflow and alembic announce database creation and migrations at INFO level; keep the export's output short."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _one_line(exc: Exception) -> str:
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def export_mlflow(run_dir: Path, tracking_uri: str | None = None, experiment: str | None = None) -> ExportSummary:
    """Log (or bring up to date) one MLflow run per model and seed of `run_dir`."""
    MlflowClient, *_, MlflowException = _require()
    artifacts = load_artifacts(run_dir)
    tracking_uri = tracking_uri or DEFAULT_TRACKING_URI
    _require_db_store(tracking_uri)
    name = experiment if experiment is not None else Path(artifacts.root).resolve().name
    if not name.strip():
        raise BenchError("--experiment must not be empty")
    with _quiet():
        try:
            client = MlflowClient(tracking_uri=tracking_uri)
            summary = _export(client, artifacts, name)
        except MlflowException as exc:
            raise BenchError(f"MLflow at {tracking_uri}: {_one_line(exc)}") from None
        except Exception as exc:
            # The stores raise their drivers' errors (sqlalchemy, requests) for a bad URI or an unreachable server.
            if type(exc).__module__.split(".")[0] not in ("sqlalchemy", "alembic", "requests", "urllib3"):
                raise
            raise BenchError(f"MLflow at {tracking_uri}: {type(exc).__name__}: {_one_line(exc)}") from None
    summary.target = f"MLflow experiment {name!r} at {tracking_uri}"
    summary.view = f"mlflow ui --backend-store-uri {tracking_uri}  (the UI needs the full package: pip install mlflow)"
    return summary


def _experiment_id(client, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is None:
        return client.create_experiment(name)
    if found.lifecycle_stage != "active":
        raise BenchError(f"MLflow experiment {name!r} is deleted; restore it (mlflow experiments restore "
                         f"--experiment-id {found.experiment_id}) or choose another --experiment")
    return found.experiment_id


def _existing(client, experiment_id: str, fingerprint: str) -> list:
    """Every active run of the experiment tagged with this run directory's fingerprint."""
    *_, ViewType, _ = _require()
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], f"tags.`bench.fingerprint` = '{fingerprint}'",
                                  run_view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _export(client, artifacts, name: str) -> ExportSummary:
    experiment_id = _experiment_id(client, name)
    fingerprint = artifacts.manifest["fingerprint"]
    if not re.fullmatch(r"[0-9a-f]+", fingerprint):
        raise BenchError(f"{artifacts.root}: unexpected fingerprint {fingerprint!r} in manifest.json")
    existing: dict[tuple[str, str], list] = {}
    for run in _existing(client, experiment_id, fingerprint):
        tags = run.data.tags
        existing.setdefault((tags.get("bench.model"), tags.get("bench.seed")), []).append(run)
    reports = report_files(artifacts.root)
    summary = ExportSummary(target="", view="")
    for run in [r for m in artifacts.models() for r in artifacts.of(m)]:
        key = digest(artifacts, run, extra={"exporter": "mlflow"}, files=reports)
        old = existing.get((run.model, str(run.seed)), [])
        if len(old) == 1 and old[0].data.tags.get("bench.export_digest") == key:
            summary.skipped.append(label(run))
            continue
        for stale in old:
            client.delete_run(stale.info.run_id)
        _log_seed(client, experiment_id, artifacts, run, key, reports)
        (summary.updated if old else summary.exported).append(label(run))
    return summary


def _log_seed(client, experiment_id: str, artifacts, run, key: str, reports: list[Path]) -> None:
    _, Metric, Param, RunTag, *_ = _require()
    start, ends, end = epoch_times(artifacts.manifest, run)
    ms = lambda t: int(round(t * 1000))  # noqa: E731
    tags = {"bench.fingerprint": artifacts.manifest["fingerprint"], "bench.model": run.model,
            "bench.seed": str(run.seed), "bench.config_fingerprint": str(run.config.get("fingerprint", "")),
            "bench.status": run.status, "bench.run_dir": str(Path(artifacts.root).resolve()),
            "mlflow.note.content": f"{run.config.get('title', run.model)}, seed {run.seed}, "
                                   f"exported by bench from {Path(artifacts.root).resolve()}"}
    created = client.create_run(experiment_id, start_time=ms(start), tags=tags, run_name=label(run))
    run_id = created.info.run_id
    param_list = [Param(k, v) for k, v in params(run.config).items()]
    for i in range(0, len(param_list), BATCH):
        client.log_batch(run_id, params=param_list[i:i + BATCH])
    metrics = [Metric(name, float(row[column]), ms(t), row["epoch"])
               for row, t in zip(run.history, ends) for column, name in EPOCH_METRICS.items()]
    metrics += [Metric(name, value, ms(end), len(run.history)) for name, value in test_metrics(run).items()]
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i:i + 1000])
    for filename in SEED_ARTIFACTS:
        if (run.path / filename).is_file():
            client.log_artifact(run_id, str(run.path / filename))
    png = confusion_png(run, artifacts.dataset["classes"])
    if png is not None:
        with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
            path = Path(tmp) / CONFUSION_FILE
            path.write_bytes(png)
            client.log_artifact(run_id, str(path))
    for path in reports:
        client.log_artifact(run_id, str(path), artifact_path="report")
    # The digest last: a run cut short without it is replaced by the next export.
    client.log_batch(run_id, tags=[RunTag("bench.export_digest", key)])
    client.set_terminated(run_id, status=STATUS.get(run.status, "KILLED"), end_time=ms(end))
