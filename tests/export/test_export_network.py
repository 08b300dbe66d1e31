"""`bench export mlflow` against tracking servers that do not answer: every wait is bounded (slow: it exports the
trained tiny_run, and the default limit is waited out once, about 30 s)."""

from __future__ import annotations

import socket
import time

import pytest
from click.testing import CliRunner

from bench.cli import cli
from conftest import assert_one_line_error, needs_mlflow

pytestmark = [pytest.mark.slow, needs_mlflow]


def closed_port() -> int:
    """A local port nobody listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_server():
    """A local server that accepts connections (the kernel completes them) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("timeout", [2, 7])
def test_mlflow_silent_server_ends_within_the_timeout(tiny_run, silent_server, timeout, tmp_path, monkeypatch):
    from bench.errors import BenchError
    from bench.export.mlflow import export_mlflow

    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    with pytest.raises(BenchError) as caught:
        export_mlflow(tiny_run, silent_server, timeout=timeout)
    assert time.monotonic() - start < timeout + 3  # the bound, plus loading the run directory
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"MLflow at {silent_server}: the tracking server did not answer")
    assert "accepted the connection but sent no answer" in message and f"within {timeout} s" in message
    assert list(tmp_path.iterdir()) == []


def test_mlflow_unreachable_and_silent_servers_end_in_one_line_within_30_s(tiny_run, silent_server, tmp_path,
                                                                         monkeypatch):
    """Through the command line, with bench's default limit (30 s): one line, exit 1, nothing created."""
    monkeypatch.chdir(tmp_path)
    for uri, what in ((f"http://127.0.0.1:{closed_port()}", "no connection"),
                      (silent_server, "accepted the connection but sent no answer")):
        start = time.monotonic()
        line = assert_one_line_error(CliRunner().invoke(cli, ["export", "mlflow", str(tiny_run), "--tracking-uri", uri]))
        assert time.monotonic() - start < 35, uri
        assert line.startswith(f"Error: MLflow at {uri}: the tracking server did not answer") and what in line
    assert list(tmp_path.iterdir()) == []


def test_mlflow_timeout_option_sets_the_limit(tiny_run, silent_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    line = assert_one_line_error(CliRunner().invoke(cli, ["export", "mlflow", str(tiny_run), "--tracking-uri",
                                                          silent_server, "--timeout", "3"]))
    assert time.monotonic() - start < 6
    assert line == (f"Error: MLflow at {silent_server}: the tracking server did not answer (it accepted the "
                    "connection but sent no answer); gave up after 1 attempt within 3 s (--timeout)")
    assert list(tmp_path.iterdir()) == []
