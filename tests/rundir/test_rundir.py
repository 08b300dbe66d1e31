"""RunDir on in-memory records: the one run key, the manifest merge, the lock (no training)."""

import json
import os

import pytest

from bench import ARTIFACT_FORMAT
from bench.errors import BenchError
from bench.rundir import layout as art
from bench.rundir.checks import differences, fingerprint, flatten, protocol_of
from bench.rundir.lock import LOCK_FILE
from bench.rundir.rundir import RunDir, merged_protocol


@pytest.mark.parametrize("model,seed", [("mlp", 0), ("cnn_bn", 7), ("my_net2", 2**31 - 1)])
def test_run_key_round_trips(model, seed):
    key = art.run_key(model, seed)
    assert key == f"{model}/seed-{seed}"
    assert art.parse_run_key(key) == (model, seed)
    assert art.seed_dir("root", model, seed).as_posix() == f"root/{key}"


@pytest.mark.parametrize("key", ["mlp", "mlp/seed-", "mlp/seed-01", "/seed-1", "mlp/seed-x", "mlp/1"])
def test_parse_run_key_refuses_other_names(key):
    with pytest.raises(BenchError, match="expected <model>/seed-<n>"):
        art.parse_run_key(key)


def test_manifest_merges_entries_and_derives_seeds_and_wall_time(tmp_path):
    rd = RunDir(tmp_path)
    assert rd.manifest() == {}
    rd.update_manifest(models={"mlp/seed-1": {"status": "running", "started_at": "2025-01-01T00:00:00+00:00"}},
                       command=["bench", "train", "mlp"])
    rd.update_manifest(models={"mlp/seed-1": {"status": "complete", "finished_at": "2025-01-01T00:01:30+00:00"},
                               "cnn/seed-0": {"status": "failed", "error": "boom"}})
    manifest = rd.manifest()
    assert manifest["artifact_format"] == ARTIFACT_FORMAT
    assert manifest["seeds"] == [0, 1]
    # Merged per entry, not replaced: the first call's start time survives the second call.
    assert manifest["models"]["mlp/seed-1"] == {"status": "complete", "started_at": "2025-01-01T00:00:00+00:00",
                                                "finished_at": "2025-01-01T00:01:30+00:00"}
    assert manifest["train_wall_seconds"] == 90.0 and manifest["command"] == ["bench", "train", "mlp"]
    assert rd.entry("cnn/seed-0")["error"] == "boom" and rd.entry("cnn/seed-9") == {}
    assert rd.update_manifest(reset=True)["models"] == {}


def test_mark_methods_write_the_job_entry(tmp_path):
    rd = RunDir(tmp_path)
    rd.mark_started("mlp/seed-0", command=["bench"], started_at=None, where={"node": "n1", "pid": 1})
    entry = rd.entry("mlp/seed-0")
    assert entry["status"] == "running" and entry["started_at"] and entry["ran_on"] == {"node": "n1", "pid": 1}
    rd.mark_stopped("mlp/seed-0", wall_seconds=3.5)
    assert rd.entry("mlp/seed-0")["status"] == "interrupted" and rd.entry("mlp/seed-0")["wall_seconds"] == 3.5
    rd.mark_finished("mlp/seed-0", {"status": "complete", "train_seconds": 2.0, "test": {"accuracy": 0.5}},
                     wall_seconds=7.0, command=["bench"], where=None)
    entry = rd.entry("mlp/seed-0")
    assert (entry["status"], entry["wall_seconds"], entry["test_accuracy"]) == ("complete", 7.0, 0.5)
    rd.mark_failed("mlp/seed-0", "lost", where=None)
    assert rd.entry("mlp/seed-0")["status"] == "failed" and rd.entry("mlp/seed-0")["finished_at"] is None


def test_a_manifest_of_another_format_is_refused(tmp_path):
    (tmp_path / art.MANIFEST).write_text(json.dumps({"artifact_format": ARTIFACT_FORMAT + 1}))
    with pytest.raises(BenchError, match="artifact format"):
        RunDir(tmp_path).update_manifest(command=["bench"])


def test_the_lock_is_exclusive_and_removed_on_exit(tmp_path):
    rd = RunDir(tmp_path / "run")
    with rd.lock():
        assert (rd.root / LOCK_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(BenchError, match="in use by another bench process"):
            with RunDir(tmp_path / "run").lock():
                pass
    assert not (rd.root / LOCK_FILE).exists()


def test_protocol_record_merges_per_model():
    old = {"sources": ["built-in"], "study": ["mlp"], "specs": {"mlp": 1}, "reference": {"mlp": 0.5}}
    new = {"source": "mine.toml", "study": ["mlp", "cnn"], "specs": {"cnn": 2}, "reference": {}}
    merged = merged_protocol(old, new)
    assert merged == {"sources": ["built-in", "mine.toml"], "study": ["mlp", "cnn"], "specs": {"mlp": 1, "cnn": 2},
                      "reference": {"mlp": 0.5}}
    assert merged_protocol(old, None) is old


def test_fingerprints_and_differences():
    a, b = {"profile": {"name": "full"}, "precision": "fp32"}, {"profile": {"name": "smoke"}, "precision": "fp32"}
    assert fingerprint(a) == fingerprint(dict(reversed(list(a.items())))) != fingerprint(b)
    assert flatten(a) == {"profile.name": "full", "precision": "fp32"}
    assert differences(a, b) == "profile.name: full -> smoke"
    assert protocol_of({"compute": {"seed": 3, "spec": 1}}) == {"spec": 1}
