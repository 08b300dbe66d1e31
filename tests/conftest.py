"""Shared fixtures: a synthetic CIFAR-10 root and tiny splits, so that no test needs the real data."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from bench.data.cifar10 import BASE_FOLDER
from bench.data.pipelines import Splits, channel_stats

@pytest.fixture(autouse=True, scope="session")
def private_report_cache(tmp_path_factory):
    """Reports rendered by tests cache into a folder of this session (bench.render.cache), never the user's
    ~/.cache/bench; tests that must compute everything set BENCH_CACHE=off themselves."""
    previous = os.environ.get("BENCH_CACHE_DIR")
    os.environ["BENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("bench-cache"))
    yield
    if previous is None:
        os.environ.pop("BENCH_CACHE_DIR", None)
    else:
        os.environ["BENCH_CACHE_DIR"] = previous


CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def synthetic_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Learnable images: a class-specific colour plus noise, NHWC uint8."""
    palette = np.linspace(30, 225, 30).reshape(10, 3)[rng.permutation(10)]
    noise = rng.integers(-40, 41, size=(len(labels), 32, 32, 3), dtype=np.int16)
    return np.clip(palette[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)


def write_cifar_root(root: Path, *, per_file: int = 10000, test: int = 10000, seed: int = 0) -> Path:
    """Write a CIFAR-10 root in the original pickle layout (pixels are synthetic)."""
    rng = np.random.default_rng(seed)
    folder = root / BASE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": CLASSES, "num_cases_per_batch": per_file, "num_vis": 3072}, fh)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = test if name == "test_batch" else per_file
        labels = np.tile(np.arange(10), n // 10)
        rng.shuffle(labels)
        images = synthetic_images(labels, rng)
        data = images.transpose(0, 3, 1, 2).reshape(n, 3072)
        with open(folder / name, "wb") as fh:
            pickle.dump({"batch_label": name, "labels": labels.tolist(), "data": data}, fh)
    return root


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory) -> Path:
    """A full-size (50,000 + 10,000) synthetic CIFAR-10 root, written once per session."""
    return write_cifar_root(tmp_path_factory.mktemp("cifar"))


@pytest.fixture
def tiny_splits() -> Splits:
    return make_tiny_splits()


@pytest.fixture
def real_data_dir() -> Path:
    path = os.environ.get("BENCH_DATA_DIR")
    if not path or not (Path(path) / BASE_FOLDER / "data_batch_1").exists():
        pytest.skip("BENCH_DATA_DIR does not point to CIFAR-10")
    return Path(path)


def make_tiny_splits(seed: int = 1) -> Splits:
    rng = np.random.default_rng(seed)
    parts = []
    for n in (256, 64, 100):
        labels = np.tile(np.arange(10), n // 10 + 1)[:n]
        parts.append((synthetic_images(labels, rng), labels.astype(np.int64)))
    mean, std = channel_stats(parts[0][0])
    return Splits(parts[0], parts[1], parts[2], mean, std)


def tiny_data(splits: Splits):
    """The tiny splits posing as a whole dataset (train file = train split)."""
    from bench.data.cifar10 import Cifar10

    return Cifar10(splits.train[0], splits.train[1], splits.test[0], splits.test[1], CLASSES,
                   {"train": {"sha256": None, "expected": "x", "ok": None},
                    "test": {"sha256": None, "expected": "y", "ok": None}})


def tiny_facts(splits: Splits) -> dict:
    from bench.data.cifar10 import describe_splits

    return describe_splits(tiny_data(splits), splits)


def build_run(out: Path, models: list[str], seeds: list[int], *, epochs: int | None = 2, force: bool = False,
              options=None, profile: str = "smoke", splits_seed: int = 1) -> Path:
    """Train tiny models into `out` through the real engine, as `bench train` would. Another `splits_seed`
    gives other tiny splits (another test set)."""
    from bench.config import RunOptions
    from bench.protocol import get_profile
    from bench.runner.plan import plan_training, resolve_weights
    from bench.runner.run import run_plan

    splits = make_tiny_splits(seed=splits_seed)
    facts = tiny_facts(splits)
    # Models with pretrained weights start from a random initialisation here: no test downloads weights.
    weights = resolve_weights(models, path=None, pretrained=False, download=False)
    plan = plan_training(models, seeds, data=tiny_data(splits), splits=splits, facts=facts,
                         profile=get_profile(profile), options=options or RunOptions(), out=out, weights=weights,
                         epochs=epochs)
    run_plan(plan, force=force, log=None, command=["bench", "train", *models])
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """Artifacts of MLP and CNN, two seeds each, trained for 2 epochs on tiny synthetic data."""
    return build_run(tmp_path_factory.mktemp("run"), ["mlp", "cnn"], [0, 1])


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under `root` (relative path -> digest); a refused command must leave it unchanged.

    Lock files (`*.lock`) are left out: they are the one file a refused command may leave behind.
    """
    import hashlib

    root = Path(root)
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def assert_one_line_error(result, code: int = 1) -> str:
    """A click CliRunner result that failed cleanly: exit `code`, one 'Error: ' line, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def set_recorded_status(run: Path, model: str, seed: int, status: str) -> None:
    """Record `status` for one job in a run directory's manifest, as bench would have: tests that make a seed
    unfinished or diverged by editing its files must say so in the manifest too, or readers refuse the
    directory as damaged (bench.rundir.rundir.check_recorded_jobs)."""
    import json

    from bench.rundir import layout as art

    path = Path(run) / art.MANIFEST
    manifest = json.loads(path.read_text())
    entry = manifest["models"].setdefault(art.run_key(model, seed), {})
    entry["status"] = status
    if status != "complete":
        entry["test_accuracy"] = None
    art.write_json(path, manifest)


def installed(*names: str) -> bool:
    """Whether the optional packages `names` can be imported (False where a test hid one on purpose)."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(n) is not None for n in names)
    except ValueError:  # sys.modules[name] is None: hidden on purpose
        return False


# Skip marks for the optional extras, not pytest.importorskip in a body: they act before (module) fixtures train.
needs_tensorboard = pytest.mark.skipif(not installed("tensorboard"), reason='needs pip install ".[tensorboard]"')
needs_mlflow = pytest.mark.skipif(not installed("mlflow", "sqlalchemy", "alembic"),
                                  reason='needs pip install ".[mlflow]"')
