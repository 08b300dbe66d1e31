"""`bench verify`: re-run a recorded run from its own records and compare, bit for bit."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.config import RunOptions
from bench.errors import BenchError
from bench.models.registry import describe_source, get_entry, model_names
from bench.protocol import Profile
from bench.rundir import layout as art
from bench.rundir.rundir import RunDir
from bench.runner.data import prepare_data


def spec_from_config(config: dict):
    """The TrainSpec a config.json records."""
    from bench.protocol import Phase, TrainSpec

    d = dict(config["compute"]["spec"])
    d.pop("epochs", None)
    try:
        d["phases"] = tuple(Phase(**p) for p in d["phases"])
        return TrainSpec(**d)
    except (TypeError, ValueError, AttributeError) as exc:
        raise BenchError(f"corrupt artifact {config['model']} config.json: its spec is unreadable ({exc})") from None


def environment_differences(recorded: dict, *, device: str) -> list[str]:
    """Why bitwise equality cannot be expected here: what differs between the recorded environment and this one."""
    import torch

    from bench.engine.env import versions

    notes = []
    if recorded.get("device_type") != device:
        notes.append(f"recorded on {recorded.get('device_type')}, re-run on {device}")
    threads = torch.get_num_threads()
    if device == "cpu" and recorded.get("torch_threads") != threads:
        notes.append(f"recorded with {recorded.get('torch_threads')} CPU threads, re-run with {threads}")
    now = versions(device)
    for lib, then in sorted((recorded.get("versions") or {}).items()):
        if now.get(lib) != then:
            notes.append(f"{lib} {then} then, {now.get(lib) or 'absent'} now")
    return notes


@dataclass
class Recipe:
    """How to train one recorded model/seed again, read from its config.json."""

    spec: object            # its TrainSpec
    options: RunOptions     # as recorded, on the device verify runs on
    model_kwargs: dict      # builder arguments, pretrained weights included
    weights: dict           # {"source", "sha256"} as recorded
    profile: dict           # the profile record


class WeightsCache:
    """Each model's pretrained weights, resolved once per (model, pretrained) however many seeds use them."""

    def __init__(self, path: str | Path | None, *, download: bool):
        self.path = path          # the user's local weights file (--vgg-weights), or None
        self.download = download  # whether torchvision may fetch them
        self.loaded: dict[tuple[str, bool], tuple[dict | None, str | None]] = {}  # -> (state_dict, file sha256)

    def get(self, model: str, *, pretrained: bool) -> tuple[dict | None, str | None]:
        if (model, pretrained) not in self.loaded:
            weights = get_entry(model).weights
            state, source = weights.resolve(self.path, pretrained=pretrained, download=self.download)
            self.loaded[(model, pretrained)] = (state, weights.record(self.path, source)["sha256"])
        return self.loaded[(model, pretrained)]


def read_recipe(run, *, device: str, weights: WeightsCache, notes: list[str]) -> Recipe:
    """A finished run's recipe, checked; what differs from the recorded code or weights is added to `notes`."""
    compute = run.config["compute"]
    try:
        options = RunOptions(device=device, precision=compute["precision"], pipeline=compute["pipeline"],
                             num_workers=compute["num_workers"] or 2, deterministic=compute["deterministic"],
                             channels_last=compute["channels_last"], eval_batch_size=compute["eval_batch_size"],
                             compile=compute["compile"])
        kwargs = dict(compute["model_kwargs"])
        recorded_weights = {"source": compute["weights_source"], "sha256": compute["weights_sha256"]}
        profile_record = compute["profile"]
    except KeyError as exc:
        raise BenchError(f"corrupt artifact {run.path / art.CONFIG}: no compute.{exc.args[0]} field") from None
    spec = spec_from_config(run.config)
    recorded_source = compute.get("model_source", {"kind": "built-in"})
    if recorded_source.get("kind") != "built-in":
        if run.model not in model_names():
            raise BenchError(f"{run.model} was trained from {describe_source(recorded_source)}; pass "
                             f"--models-from with that file or module to verify it")
        current = get_entry(run.model).source
        if current.get("sha256") != recorded_source.get("sha256"):
            notes.append(f"{run.model}'s code differs from the recorded one ({describe_source(current)} now)")
    if get_entry(run.model).weights is not None:
        pretrained = not str(compute["weights_source"]).startswith("none")
        state, digest = weights.get(run.model, pretrained=pretrained)
        if pretrained and compute["weights_sha256"] and digest and digest != compute["weights_sha256"]:
            notes.append(f"{get_entry(run.model).title} weights file differs from the recorded one (sha256 "
                         f"{digest[:12]}... vs {compute['weights_sha256'][:12]}...)")
        kwargs["state_dict"] = state
    return Recipe(spec, options, kwargs, recorded_weights, profile_record)


def compare_rerun(run, history: list[dict], predictions: dict | None) -> dict:
    """One verify row: identical, or different with the largest history and logit differences."""
    keys = [k for k in art.HISTORY_FIELDS if k != "seconds"]  # wall times never repeat
    old_h, new_h = (np.array([[r[k] for k in keys] for r in h], dtype=float) for h in (run.history, history))
    old_l, new_l = (p["logits"] if p is not None else np.empty((0, 0)) for p in (run.predictions, predictions))
    same, diffs = True, []
    for a, b in ((old_h, new_h), (old_l, new_l)):
        # equal_nan: a run that diverged identically twice is identical, not "different".
        equal = a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
        same &= equal
        diffs.append(0.0 if equal else float(np.nanmax(np.abs(a - b), initial=0.0))
                     if a.shape == b.shape else float("inf"))
    hist_diff, logit_diff = diffs
    return {"model": run.model, "seed": run.seed, "status": "identical" if same else "different",
            "max_logit_diff": logit_diff, "max_history_diff": hist_diff}


def verify_run(run_dir: Path, *, data_dir: Path, device: str | None, weights_path: str | Path | None, download: bool,
               models: list[str] | None = None, log=None) -> tuple[list[dict], list[str]]:
    """Re-run every recorded model/seed from its config.json and compare with the saved results.

    Every artifact is read and checked before anything is retrained. Returns one row per run
    (identical, or the largest differences) and the environment differences under which
    bitwise equality is not to be expected.
    """
    from bench.engine.train import fit

    log = log or (lambda msg: None)
    # 1. The run directory, whole and checked, and the environment it was recorded in.
    artifacts = RunDir(run_dir).load()
    runs = [r for r in artifacts.runs if models is None or r.model in models]
    if not runs:
        raise BenchError(f"{run_dir} holds no trained model to verify"
                         + (f" among {', '.join(models)}" if models else ""))
    recorded = artifacts.manifest["directory"]
    device = device or recorded["device_type"]
    notes = environment_differences(recorded, device=device)
    if notes:
        log("bitwise equality is not expected: " + "; ".join(notes) + "; the largest differences are reported")
    # 2. The same data (the pixels are checked only if the recorded run checked them).
    recorded_check = ((artifacts.dataset.get("checksums") or {}).get("train") or {})
    check_pixels = isinstance(recorded_check, dict) and recorded_check.get("ok") is not None
    _, splits, facts = prepare_data(data_dir, Profile(**recorded["profile"]), download=download, verify=check_pixels)
    if facts["digests"] != artifacts.dataset["digests"]:
        raise BenchError(f"the data in {data_dir} differs from the data {run_dir} was trained on "
                         "(split digests differ); point --data-dir at the same CIFAR-10 files")
    # 3. Every run's recipe, read and checked before the first one is retrained.
    weights = WeightsCache(weights_path, download=download)
    recipes = {(r.model, r.seed): read_recipe(r, device=device, weights=weights, notes=notes)
               for r in runs if r.status != "incomplete"}
    # 4. Train each again in a temporary folder and compare.
    rows = []
    for run in runs:
        if run.status == "incomplete":
            rows.append({"model": run.model, "seed": run.seed, "status": "unfinished, not verified"})
            continue
        recipe = recipes[(run.model, run.seed)]
        log(f"verifying {run.model} seed {run.seed} ...")
        with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
            metrics = fit(recipe.spec, splits, seed=run.seed, options=recipe.options, out_dir=Path(tmp),
                          model_kwargs=recipe.model_kwargs, weights=recipe.weights, profile=recipe.profile,
                          data_facts=facts)
            history = art.read_history(Path(tmp) / art.HISTORY)
            predictions = art.read_predictions(Path(tmp) / art.PREDICTIONS) if metrics["status"] == "complete" \
                else None
        rows.append(compare_rerun(run, history, predictions))
    return rows, notes
