"""How a run departs from the built-in study protocol, as data: what differs, the study's value and the run's.

Each record is {"what", "model", "study", "run"}; `what` is a profile, data size, pipeline, phases, spec
field or builder setting, or "pretraining". The sentences that state them are written at render time
(bench.render.text), in the report's language.
"""

from __future__ import annotations

from bench.protocol import DATA, REFERENCE_SETUP_KEYS, STUDY, get_profile, spec_for, study_kwargs

STUDY_SIZES = DATA.sizes
STUDY_PIPELINE = DATA.pipeline
# Spec fields compared one by one (phases and epochs get their own record; "note" and "model" are not protocol).
SPEC_FIELDS = ("optimizer", "weight_decay", "momentum", "batch_size", "backbone_lr_scale", "augment")
# Departures that concern every model of a run alike: stated once, without model names.
RUN_WIDE = ("profile", "data_sizes", "pipeline")
ORDER = ("profile", "data_sizes", "pipeline", "phases")


def run_sizes(config: dict, dataset: dict | None) -> dict | None:
    """The run's split sizes: config.json's record first, dataset.json's shapes second."""
    sizes = config.get("compute", {}).get("sizes")
    if sizes:
        return {k: int(sizes[k]) for k in ("train", "val", "test") if k in sizes}
    shapes = (dataset or {}).get("shapes", {})
    if all(shapes.get(k) for k in ("train", "val", "test")):
        return {k: int(shapes[k][0]) for k in ("train", "val", "test")}
    return None


def departures(config: dict, dataset: dict | None = None) -> list[dict]:
    """How one model's run (its config.json) departs from the built-in study protocol."""
    model = config.get("model", "?")
    compute = config.get("compute", {})
    out = []

    def add(what, study, run):
        out.append({"what": what, "model": model, "study": study, "run": run})

    profile = (compute.get("profile") or {}).get("name")
    if profile and profile != "full":
        add("profile", "full", profile)
    sizes = run_sizes(config, dataset)
    if sizes and sizes != STUDY_SIZES:
        add("data_sizes", dict(STUDY_SIZES), sizes)
    pipeline = compute.get("pipeline")
    if pipeline and pipeline != STUDY_PIPELINE:
        add("pipeline", STUDY_PIPELINE, pipeline)
    if model not in STUDY:
        # A plugged-in model has no study protocol to depart from, and no reference result to be compared with.
        return out
    study = spec_for(model, get_profile("full")).to_dict()
    spec = compute.get("spec", {})
    phases = [{"lr": float(p["lr"]), "epochs": int(p["epochs"])} for p in spec.get("phases", [])]
    if phases != study["phases"]:
        add("phases", study["phases"], phases)
    for key in SPEC_FIELDS:
        if key in spec and spec[key] != study[key]:
            add(key, study[key], spec[key])
    kwargs = compute.get("model_kwargs") or {}
    defaults = study_kwargs(model)
    for key, default in defaults.items():
        value = kwargs.get(key, default)
        if value != default:
            add(key, default, value)
    source = compute.get("weights_source") or ""
    # Only a model that loads pretrained weights records a weights source; "none ..." is --no-pretrained.
    if source.startswith("none"):
        add("pretraining", "pretrained", "none")
    return out


def run_departures(configs: dict[str, dict], dataset: dict | None = None) -> dict:
    """The departures of every model of a run, merged: one record per distinct departure, naming its models.

    Returns {"items": [{"what", "study", "run", "models", "all_models"}], "facts": headline facts or None,
    "like_for_like": bool}.
    """
    merged: dict[tuple, dict] = {}
    for model, config in configs.items():
        for d in departures(config, dataset):
            key = (d["what"], repr(d["study"]), repr(d["run"]))
            if key not in merged:
                merged[key] = {k: v for k, v in d.items() if k != "model"} | {"models": []}
            merged[key]["models"].append(model)
    items = []
    for d in merged.values():
        everyone = len(d["models"]) == len(configs) and len(configs) > 1 and d["what"] in RUN_WIDE
        items.append(d | {"all_models": everyone})
    items.sort(key=lambda d: ORDER.index(d["what"]) if d["what"] in ORDER else len(ORDER))
    return {"items": items, "facts": headline_facts(items, configs) if items else None, "like_for_like": not items,
            "illustrative": illustrative(items)}


def illustrative(items: list[dict]) -> dict | None:
    """Why a run's numbers only illustrate the pipeline, or None when they are evidence about its models.

    Another profile, fewer training images or fewer epochs than the full protocol make a run too small to say
    how its models compare (issue 22); other departures (image size, frozen blocks, no pretraining, a setting)
    are experiments whose numbers stand, only not like-for-like with the reference study.
    Returns {"profile", "train_images": [run, full] or None, "epochs": {"run": [low, high], "full": [low, high]}
    or None}, the epochs over the models trained for fewer epochs than the full protocol gives them.
    """
    profile = next((d["run"] for d in items if d["what"] == "profile"), None)
    sizes = next((d for d in items if d["what"] == "data_sizes"), None)
    train_images = None
    if sizes and sizes["run"].get("train") is not None and sizes["run"]["train"] < sizes["study"]["train"]:
        train_images = [sizes["run"]["train"], sizes["study"]["train"]]
    shorter = [(sum(p["epochs"] for p in d["run"]), sum(p["epochs"] for p in d["study"]))
               for d in items if d["what"] == "phases"]
    shorter = [(run, full) for run, full in shorter if run < full]
    epochs = None
    if shorter:
        runs, fulls = [r for r, _ in shorter], [f for _, f in shorter]
        epochs = {"run": [min(runs), max(runs)], "full": [min(fulls), max(fulls)]}
    if profile is None and train_images is None and epochs is None:
        return None
    return {"profile": profile, "train_images": train_images, "epochs": epochs}


def headline_facts(items: list[dict], configs: dict[str, dict]) -> dict:
    """What the departures banner's headline states: the profile, the training images, the epochs, the rest."""
    whats = {d["what"] for d in items}
    facts: dict = {"profile": next((d["run"] for d in items if d["what"] == "profile"), None),
                   "train_images": next((d["run"]["train"] for d in items if d["what"] == "data_sizes"), None),
                   "epochs_per_phase": None, "epochs_per_model": None,
                   "others": bool(whats - {"profile", "data_sizes", "phases"})}
    if "phases" in whats:
        phases = [p for c in configs.values() for p in c["compute"]["spec"]["phases"]]
        per_phase = {int(p["epochs"]) for p in phases}
        totals = sorted({sum(int(p["epochs"]) for p in c["compute"]["spec"]["phases"]) for c in configs.values()})
        profile_rule = any((c["compute"].get("profile") or {}).get("epochs_per_phase") for c in configs.values())
        if profile_rule and len(per_phase) == 1:
            facts["epochs_per_phase"] = per_phase.pop()
        else:
            facts["epochs_per_model"] = [totals[0], totals[-1]]
    return facts


def study_differences(full: dict, reference: dict | None) -> list[str] | None:
    """What of the full protocol's spec (`full`, TrainSpec.to_dict) differs from how the reference study trained
    the model (its reference entry's bench.protocol.REFERENCE_SETUP_KEYS): a list of those keys, [] when nothing
    differs, None when the reference records no setup. An unpublished rate differs from nothing; a "lower"
    backbone rate differs only from a scale of 1 or more."""
    if not reference or not any(k in reference for k in REFERENCE_SETUP_KEYS):
        return None
    out = []
    if "optimizer" in reference and reference["optimizer"] != full.get("optimizer"):
        out.append("optimizer")
    if "phases" in reference:
        ours, theirs = full.get("phases") or [], reference["phases"]
        if len(ours) != len(theirs) or any(a["epochs"] != b["epochs"] or ("lr" in b and a["lr"] != b["lr"])
                                           for a, b in zip(ours, theirs)):
            out.append("phases")
    if "backbone_lr_scale" in reference:
        scale, study = full.get("backbone_lr_scale", 1.0), reference["backbone_lr_scale"]
        if (scale >= 1.0) if study == "lower" else (scale != study):
            out.append("backbone_lr_scale")
    return out

