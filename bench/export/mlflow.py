"""`bench export mlflow RUN [--tracking-uri URI] [--experiment NAME] [--timeout S]`: one MLflow run per model and seed.

The experiment is named after the run directory (its folder name) unless ``--experiment`` says
otherwise; the tracking URI defaults to ``sqlite:///mlflow.db`` in the working directory (MLflow
then keeps the artifacts in ``./mlruns``). An in-memory database (``sqlite://``,
``sqlite:///:memory:``) is refused: the export would vanish with the process. Each seed becomes a
run named ``<model>/seed-<n>`` with:

- parameters: every value of its ``config.json``, flattened (``compute.spec.optimizer``); lists
  and other non-strings as compact JSON; keys reduced to MLflow's character set, values cut to
  its 6,000-character limit (`params`);
- metrics per epoch with ``step`` = epoch and the time each epoch ended (`bench.export.base.EPOCH_METRICS`),
  and the test metrics at the last epoch (`bench.export.base.TEST_METRICS`);
- artifacts: ``config.json``, ``history.csv``, ``metrics.json``, ``confusion_matrix.png`` and,
  under ``report/``, the report files at the run directory's top level (``*.pdf``, ``*.html``,
  ``*.summary.json``);
- tags: the export record (`RECORD_TAGS`: ``bench.identity``, ``bench.fingerprint``, ``bench.model``,
  ``bench.seed``, ``bench.config_fingerprint``, ``bench.run_dir`` and, set last,
  ``bench.export_digest``) and ``bench.status``. The run ends FINISHED (complete), FAILED
  (diverged) or KILLED (incomplete).

Exporting again: the experiment's runs tagged with this run directory's identity are read back and
`bench.export.base.plan_exports` decides; a changed seed is logged afresh and then its old run is
deleted (MLflow's soft delete: ``mlflow gc`` purges it). Runs of other run directories in the same
experiment are never touched.

Bounded waits: bench sets MLflow's HTTP retries and timeouts (`NetworkLimits`) so that each call to a
tracking server, retries included, ends within ``--timeout`` seconds (30 by default): an
unreachable or silent server ends the export with one line.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.export.base import (CONFUSION_FILE, EPOCH_METRICS, ExportRecord, ExportSummary, as_text, confusion_png,
                               epoch_times, export_digest, install_hint, label, plan_exports, record_for,
                               run_identity, test_metrics)
from bench.rundir.checks import flatten
from bench.rundir.rundir import Artifacts, load_artifacts

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_TIMEOUT = 30.0     # seconds one call to a tracking server may take, retries included
TIMEOUT_RANGE = (1, 3600)  # legal --timeout values, in seconds
REPORT_PATTERNS = ("*.pdf", "*.html", "*.summary.json")
SEED_ARTIFACTS = ("config.json", "history.csv", "metrics.json")
MAX_PARAM_VALUE = 6000     # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
MAX_KEY = 250              # mlflow.utils.validation.MAX_ENTITY_KEY_LENGTH
BATCH = 100                # params/tags per log_batch call (MLflow's limit); metrics: 1000
DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
STATUS = {"complete": "FINISHED", "diverged": "FAILED"}
# ExportRecord field -> the MLflow tag that holds it.
RECORD_TAGS = {"identity": "bench.identity", "fingerprint": "bench.fingerprint", "model": "bench.model",
               "seed": "bench.seed", "config_fingerprint": "bench.config_fingerprint", "run_dir": "bench.run_dir",
               "digest": "bench.export_digest"}


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


def _scheme(tracking_uri: str) -> str:
    """'sqlite' for sqlite:///x and sqlite+pysqlite:///x; '' for a plain path."""
    return tracking_uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in tracking_uri else ""


def check_tracking_uri(tracking_uri: str) -> None:
    """Refuse, before anything is created, a store that needs a missing driver or would not persist.

    A database URI (sqlite:///..., postgresql://...) needs SQLAlchemy and alembic, which mlflow-skinny
    leaves out (the bench[mlflow] extra adds them). An in-memory SQLite database lives as long as the
    process: the export would report success and keep nothing."""
    if _scheme(tracking_uri) not in DB_SCHEMES:
        return
    try:
        import alembic  # noqa: F401
        import sqlalchemy
    except ImportError:
        raise install_hint("mlflow", "SQLAlchemy and alembic for a database tracking URI", "mlflow") from None
    if _scheme(tracking_uri) != "sqlite":
        return
    try:
        url = sqlalchemy.engine.make_url(tracking_uri)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError and friends: a malformed URI
        raise BenchError(f"--tracking-uri {tracking_uri}: not a database URI ({_one_line(exc)})") from None
    database = url.database or ""
    if database in ("", ":memory:") or ":memory:" in database or url.query.get("mode") == "memory":
        raise BenchError(f"--tracking-uri {tracking_uri} is an in-memory SQLite database: the export would vanish "
                         "when bench exits; give a file, e.g. sqlite:///mlflow.db")


@dataclass(frozen=True)
class NetworkLimits:
    """How long bench lets one call to a tracking server take: MLflow's HTTP retry and timeout settings, chosen
    so that one call (all attempts and the waits between them) ends within `total` seconds (attempts x
    attempt_timeout + backoff <= total), and the wait for a database server's first answer (`probe_database`)."""

    total: float                    # seconds one call may take at most, retries included (--timeout)
    retries: int                    # attempts after the first (connection refused, timeout, 429 or 5xx)
    attempt_timeout: int            # seconds one attempt waits to connect and for an answer (MLflow: whole seconds)
    backoff_factor: int             # urllib3 sleeps factor * 2**(n-1) s after the n-th failure, nothing after the 1st

    @classmethod
    def within(cls, total: float) -> NetworkLimits:
        """Three attempts when there is room for them (a server restarting gets a second chance), else one."""
        low, high = TIMEOUT_RANGE
        if not (isinstance(total, (int, float)) and math.isfinite(total) and low <= total <= high):
            raise BenchError(f"--timeout must be a number of seconds from {low} to {high}, not {total!r}")
        if total >= 6:
            return cls(total=float(total), retries=2, attempt_timeout=int((total - 2) // 3), backoff_factor=1)
        return cls(total=float(total), retries=0, attempt_timeout=int(total), backoff_factor=0)

    def backoff(self) -> float:
        """The sleeps between attempts, in all (urllib3's Retry, without jitter)."""
        return float(sum(self.backoff_factor * 2 ** (n - 1) for n in range(2, self.retries + 1)))

    def worst_case(self) -> float:
        """The longest one call can take when the server never answers."""
        return (self.retries + 1) * self.attempt_timeout + self.backoff()

    def environ(self) -> dict[str, str]:
        """The MLflow settings, as the environment variables its HTTP client reads on every request."""
        return {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.retries),
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": str(self.backoff_factor),
                "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": str(self.attempt_timeout),
                # A server's Retry-After could ask for any wait: the bound is bench's to keep.
                "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false"}


def probe_database(tracking_uri: str, limits: NetworkLimits) -> None:
    """Connect once to a database server (postgresql://, mysql://, mssql://) within the limit, before MLflow does.

    MLflow's own engine set-up tries ten times with growing sleeps (about 100 s in all), each try waiting as
    long as the driver lets it: a server that does not answer would hold the export for minutes. The probe
    runs in a daemon thread so that the wait ends at the limit whatever the driver does."""
    if _scheme(tracking_uri) not in DB_SCHEMES or _scheme(tracking_uri) == "sqlite":
        return
    import threading

    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(tracking_uri)
    except ImportError as exc:
        raise BenchError(f"--tracking-uri {tracking_uri} needs the Python database driver {exc.name!r}, which is "
                         f"not installed (pip install {exc.name})") from None
    except Exception as exc:  # sqlalchemy.exc.ArgumentError and friends: a malformed URI
        raise BenchError(f"--tracking-uri {tracking_uri}: {type(exc).__name__}: {_one_line(exc)}") from None
    outcome: list[BaseException | None] = []

    def connect() -> None:
        try:
            with engine.connect():
                pass
            outcome.append(None)
        except Exception as exc:  # reported below, as one line
            outcome.append(exc)

    thread = threading.Thread(target=connect, name="bench-probe-database", daemon=True)
    thread.start()
    thread.join(limits.total)
    if thread.is_alive():
        raise BenchError(f"MLflow at {tracking_uri}: the database server did not answer within {limits.total:g} s "
                         "(--timeout)")
    engine.dispose()
    if outcome and outcome[0] is not None:
        exc = outcome[0]
        raise BenchError(f"MLflow at {tracking_uri}: {type(exc).__name__}: {_one_line(exc)}")


@contextlib.contextmanager
def http_limits(limits: NetworkLimits):
    """MLflow's HTTP client under `limits` for the duration of an export; the environment is restored after."""
    saved = {name: os.environ.get(name) for name in limits.environ()}
    os.environ.update(limits.environ())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def sanitise_key(key: str) -> str:
    """A config path as an MLflow key: alphanumerics, '_', '-', '.', ' ' (others become '_'), at most 250 chars."""
    key = re.sub(r"[^\w.\- ]", "_", key)
    key = re.sub(r"\.{2,}", ".", key).strip(". ") or "_"
    return key[:MAX_KEY]


def params(config: dict) -> dict[str, str]:
    """config.json as MLflow parameters: flattened, sanitised keys (made unique), values within the limit."""
    out: dict[str, str] = {}
    for key, value in flatten(config).items():
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


def _no_answer(exc: BaseException, limits: NetworkLimits) -> str | None:
    """What went wrong when MLflow gave up on an unreachable or silent server (None for anything else)."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

    cause = exc.__cause__ or exc.__context__
    while cause is not None and not isinstance(cause, (requests.ConnectionError, requests.Timeout)):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return None
    reason = getattr(cause.args[0], "reason", None) if cause.args else None
    # NewConnectionError subclasses ConnectTimeoutError: asked first.
    what = ("it accepted the connection but sent no answer" if isinstance(reason, ReadTimeoutError) else
            f"no connection: {str(reason).rsplit(': ', 1)[-1]}" if isinstance(reason, NewConnectionError) else
            "no connection within the time" if isinstance(reason, ConnectTimeoutError) else type(cause).__name__)
    attempts = limits.retries + 1
    return (f"the tracking server did not answer ({what}); gave up after {attempts} "
            f"attempt{'s' if attempts > 1 else ''} within {limits.total:g} s (--timeout)")


def export_mlflow(run_dir: Path, tracking_uri: str | None = None, experiment: str | None = None, *,
                  timeout: float = DEFAULT_TIMEOUT) -> ExportSummary:
    """Log (or bring up to date) one MLflow run per model and seed of `run_dir`; each call to a tracking server
    ends within `timeout` seconds, retries included."""
    MlflowClient, *_, MlflowException = _require()
    tracking_uri = tracking_uri or DEFAULT_TRACKING_URI
    limits = NetworkLimits.within(timeout)
    check_tracking_uri(tracking_uri)
    artifacts = load_artifacts(run_dir)
    name = experiment if experiment is not None else Path(artifacts.root).resolve().name
    if not name.strip():
        raise BenchError("--experiment must not be empty")
    probe_database(tracking_uri, limits)
    with _quiet(), http_limits(limits):
        try:
            client = MlflowClient(tracking_uri=tracking_uri)
            summary = _export(client, artifacts, name)
        except MlflowException as exc:
            raise BenchError(f"MLflow at {tracking_uri}: {_no_answer(exc, limits) or _one_line(exc)}") from None
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


def held_records(client, experiment_id: str, identity: str) -> list[tuple[ExportRecord, str]]:
    """Every active run of the experiment exported from the run directory `identity`, with its run id."""
    *_, ViewType, _ = _require()
    out, token = [], None
    while True:
        page = client.search_runs([experiment_id], f"tags.`{RECORD_TAGS['identity']}` = '{identity}'",
                                  run_view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token)
        for run in page:
            record = ExportRecord.from_dict({key: run.data.tags.get(tag) for key, tag in RECORD_TAGS.items()})
            if record is not None:
                out.append((record, run.info.run_id))
        token = page.token
        if not token:
            return out


def _export(client, artifacts: Artifacts, name: str) -> ExportSummary:
    experiment_id = _experiment_id(client, name)
    identity = run_identity(artifacts.manifest)
    reports = report_files(artifacts.root)
    runs = [r for m in artifacts.models() for r in artifacts.of(m)]
    wanted = [(run, record_for(artifacts, run, export_digest(artifacts, run, extra={"exporter": "mlflow"},
                                                             files=reports))) for run in runs]
    summary = ExportSummary(target="", view="")
    for step in plan_exports(wanted, held_records(client, experiment_id, identity)):
        summary.add(step)
        if step.action == "skip":
            continue
        # The new run first, then the old ones go: an export cut short between the two leaves both, and the
        # next export (two held runs) replaces them.
        _log_seed(client, experiment_id, artifacts, step.run, step.record, reports)
        for run_id in step.replaces:
            client.delete_run(run_id)
    return summary


def _log_seed(client, experiment_id: str, artifacts: Artifacts, run, record: ExportRecord,
              reports: list[Path]) -> None:
    _, Metric, Param, RunTag, *_ = _require()
    start, ends, end = epoch_times(artifacts.manifest, run)
    ms = lambda t: int(round(t * 1000))  # noqa: E731
    tags = {tag: str(getattr(record, key)) for key, tag in RECORD_TAGS.items() if key != "digest"}
    tags.update({"bench.status": run.status,
                 "mlflow.note.content": f"{run.config.get('title', run.model)}, seed {run.seed}, "
                                        f"exported by bench from {record.run_dir}"})
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
    client.log_batch(run_id, tags=[RunTag(RECORD_TAGS["digest"], record.digest)])
    client.set_terminated(run_id, status=STATUS.get(run.status, "KILLED"), end_time=ms(end))
