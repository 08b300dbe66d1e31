"""Kill a real training process with SIGKILL at random moments; the resumed result must be bitwise equal."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from bench.rundir import layout as art

pytestmark = pytest.mark.slow  # every test here trains
def _cmd(root, out):
    return [sys.executable, "-m", "bench", "train", "mlp", "--profile", "smoke", "--epochs", "30", "--device", "cpu",
            "--data-dir", str(root), "--no-verify", "--artifacts", str(out)]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_at_random_points_then_resume_is_bitwise_equal(cifar_root, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref = tmp_path / "ref"
    subprocess.run(_cmd(cifar_root, ref), check=True, env=env, capture_output=True)

    out = tmp_path / "killed"
    rng = random.Random(1234)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(_cmd(cifar_root, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(3.0, 8.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        # Whatever the moment, no artifact is ever half-written.
        for path in out.rglob("*"):
            if path.name.endswith(".json"):
                art.read_json(path)
    assert kills >= 2
    done = subprocess.run(_cmd(cifar_root, out), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    a = art.read_predictions(art.seed_dir(ref, "mlp", 0) / art.PREDICTIONS)
    b = art.read_predictions(art.seed_dir(out, "mlp", 0) / art.PREDICTIONS)
    assert np.array_equal(a["logits"], b["logits"])
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert strip(art.read_history(art.seed_dir(ref, "mlp", 0) / art.HISTORY)) == \
        strip(art.read_history(art.seed_dir(out, "mlp", 0) / art.HISTORY))
