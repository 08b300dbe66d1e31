"""Issue 24, classes 1 and 8 at the run directory's level (fast, in-memory): links and special files are
refused without being followed, and recorded checksum verdicts are never downgraded."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.rundir import layout as art
from bench.rundir.lock import LOCK_FILE, RunLock
from bench.runner.data import recorded_checksums


def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "mlp" / "seed-0").mkdir(parents=True)
    (run / art.MANIFEST).write_text("{}")
    (run / "mlp" / "seed-0" / art.METRICS).write_text("{}")
    return run


@pytest.mark.parametrize("make,phrase", [
    (lambda run, out: os.symlink(out, run / "mlp" / "seed-0" / art.PREDICTIONS), "is a link"),
    (lambda run, out: os.symlink(out.parent, run / "cnn"), "is a link"),
    (lambda run, out: os.symlink(run / "nowhere", run / art.SAMPLES), "is a link"),
    (lambda run, out: os.mkfifo(run / "mlp" / "seed-0" / art.HISTORY), "FIFO"),
])
def test_check_tree_refuses_links_and_special_files(tmp_path, make, phrase):
    run = _run_dir(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("not bench's")
    make(run, outside)
    with pytest.raises(BenchError, match=phrase):
        art.check_tree(run)
    assert outside.read_text() == "not bench's"


def test_check_tree_accepts_real_files_and_a_linked_root(tmp_path):
    run = _run_dir(tmp_path)
    art.check_tree(run)
    os.symlink(run, tmp_path / "alias")
    art.check_tree(tmp_path / "alias")  # the root is the user's choice of name


def test_open_regular_never_blocks_on_a_fifo_nor_follows_a_link(tmp_path):
    fifo = tmp_path / "metrics.json"
    os.mkfifo(fifo)
    done = []
    reader = threading.Thread(target=lambda: done.append(pytest.raises(BenchError, art.read_json, fifo)))
    reader.start()
    reader.join(timeout=5)
    assert done and "FIFO" in str(done[0].value)
    target = tmp_path / "real.json"
    target.write_text("{}")
    os.symlink(target, tmp_path / "link.json")
    with pytest.raises(BenchError, match="is a link"):
        art.read_json(tmp_path / "link.json")
    with pytest.raises(FileNotFoundError):
        art.open_regular(tmp_path / "absent.json")


def test_lock_never_follows_a_link_and_checks_the_tree(tmp_path):
    run = _run_dir(tmp_path)
    outside = tmp_path / "victim.txt"
    outside.write_text("keep me")
    os.symlink(outside, run / LOCK_FILE)
    with pytest.raises(BenchError, match="is a link"):
        RunLock(run).__enter__()
    assert outside.read_text() == "keep me"
    (run / LOCK_FILE).unlink()
    os.symlink(outside, run / "mlp" / "seed-0" / art.CONFIG)
    with pytest.raises(BenchError, match="config.json is a link"):
        RunLock(run).__enter__()
    assert not (run / LOCK_FILE).exists()  # released again


def test_sha256_file_has_one_home():
    from bench.models import registry

    assert art.sha256_file.__module__ == "bench.rundir.layout"
    assert "registry.sha256_file" in open(art.__file__).read()  # layout delegates, with its own opener
    assert registry.sha256_file(art.__file__) == art.sha256_file(art.__file__)


@pytest.mark.parametrize("old,new,kept", [
    ({"train": {"ok": True, "sha256": "a"}}, {"train": {"ok": None, "sha256": None}}, True),   # weaker: kept
    ({"train": {"ok": None, "sha256": None}}, {"train": {"ok": True, "sha256": "a"}}, False),  # stronger: new
    ({}, {"train": {"ok": None, "sha256": None}}, False),
])
def test_checksum_verdicts_are_never_downgraded(old, new, kept):
    merged = recorded_checksums(old, new)
    assert merged["train"] == (old["train"] if kept else new["train"])


def test_data_artifacts_keep_the_stronger_verdict(tmp_path):
    from bench.runner.data import write_data_artifacts

    facts = {"digests": {"test": "x"}, "checksums": {"train": {"ok": True, "sha256": "a", "expected": "a"}}}
    write_data_artifacts(tmp_path, None, facts)
    weaker = {"digests": {"test": "x"}, "checksums": {"train": {"ok": None, "sha256": None, "expected": "a"}}}
    recorded = write_data_artifacts(tmp_path, None, weaker)
    assert recorded["checksums"]["train"]["ok"] is True
    assert json.loads((tmp_path / art.DATASET).read_text())["checksums"]["train"]["ok"] is True
