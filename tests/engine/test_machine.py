"""bench.engine.env.machine and shared_machine: the machine facts the runner records in manifest.json."""

import json
import os

import pytest
import torch

from bench.engine import env


def test_machine_records_structured_fields():
    m = env.machine("cpu")
    assert m["cpu"] and isinstance(m["cpu"], str)
    assert m["logical_cores"] == os.cpu_count() and m["torch_threads"] == torch.get_num_threads()
    assert m["memory_bytes"] is None or m["memory_bytes"] > 2 ** 26
    assert m["os"] and "gpu" not in m and m["load_end"] is None
    json.dumps(m)  # it goes into manifest.json as is


def test_shared_machine_rule():
    base = {"usable_cores": 4, "torch_threads": 2, "load_start": 0.5, "load_end": 2.5}
    assert env.shared_machine(base) is False
    assert env.shared_machine({**base, "load_start": 2.5}) is True  # others busy before training started
    assert env.shared_machine({**base, "load_end": 4.5}) is True  # 2.5 beyond this run's own 2 threads
    assert env.shared_machine({**base, "load_start": None, "load_end": None}) is None
    assert env.shared_machine(None) is None and env.shared_machine({"load_start": 1.0}) is None


@pytest.mark.slow
def test_the_runner_records_the_machine_outside_the_fingerprint(tiny_run):
    from bench.rundir.rundir import read_manifest

    manifest = read_manifest(tiny_run)
    m = manifest["machine"]
    assert m["logical_cores"] == os.cpu_count() and m["load_start"] is not None and m["load_end"] is not None
    assert "machine" not in json.dumps(manifest["directory"])
