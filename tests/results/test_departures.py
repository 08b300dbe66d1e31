"""bench.results.departures: how a run departs from the study's protocol, as data (the sentences: tests/render)."""

from dataclasses import asdict

import pytest

from bench.protocol import STUDY, get_profile, spec_for, study_kwargs
from bench.results import departures as dep


def config(model, *, profile="full", sizes=None, kwargs=None, source=None, pipeline="fast", **spec_changes):
    """A config.json of the built-in `model` as training writes it, with the given changes."""
    prof = get_profile(profile)
    spec = spec_for(model, prof, **{k: v for k, v in spec_changes.items() if k == "epochs"}).to_dict()
    spec.update({k: v for k, v in spec_changes.items() if k != "epochs"})
    if sizes is None:
        sizes = dict(dep.STUDY_SIZES) if profile == "full" else {"train": 2000, "val": 500, "test": 1000}
    if kwargs is None:
        kwargs = study_kwargs(model)
    if source is None:
        source = "torchvision weights" if "frozen_blocks" in study_kwargs(model) else ""
    return {"model": model, "title": model.upper(),
            "compute": {"spec": spec, "model_kwargs": kwargs, "weights_source": source, "profile": asdict(prof),
                        "sizes": sizes, "pipeline": pipeline}}


@pytest.mark.parametrize("model", list(STUDY))
def test_the_built_in_protocol_has_no_departure(model):
    assert dep.departures(config(model)) == []


@pytest.mark.parametrize("changes,what,study,run", [
    ({"batch_size": 64}, "batch_size", 128, 64),
    ({"optimizer": "sgd"}, "optimizer", "adam", "sgd"),
    ({"weight_decay": 0.0}, "weight_decay", 0.0005, 0.0),
    ({"augment": False}, "augment", True, False),
    ({"epochs": 3}, "phases", [{"lr": 0.001, "epochs": 8}, {"lr": 0.0001, "epochs": 2}], [{"lr": 0.001, "epochs": 3}]),
    ({"pipeline": "torchvision"}, "pipeline", "fast", "torchvision"),
    ({"sizes": {"train": 45_000, "val": 5_000, "test": 5_000}}, "data_sizes",
     {"train": 45_000, "val": 5_000, "test": 10_000}, {"train": 45_000, "val": 5_000, "test": 5_000}),
])
def test_each_kind_of_departure_is_recorded_with_both_values(changes, what, study, run):
    found = dep.departures(config("cnn", **changes))
    assert [(d["what"], d["study"], d["run"]) for d in found] == [(what, study, run)]


def test_a_model_loaded_without_its_pretrained_weights_departs_by_its_record_not_its_name():
    transfer = next(m for m in STUDY if "frozen_blocks" in study_kwargs(m))
    cfg = config(transfer, kwargs={"frozen_blocks": 1, "image_size": 96}, source="none (random initialisation)")
    assert {d["what"]: (d["study"], d["run"]) for d in dep.departures(cfg)} == {
        "image_size": (32, 96), "frozen_blocks": (3, 1), "pretraining": ("pretrained", "none")}
    # Kwargs missing from an older config.json mean the builder's defaults: the study's.
    assert dep.departures(config(transfer, kwargs={})) == []


def test_smoke_run_departures_are_merged_with_their_headline_facts():
    configs = {m: config(m, profile="smoke") for m in ("mlp", "cnn")}
    out = dep.run_departures(configs)
    assert [d["what"] for d in out["items"]] == ["profile", "data_sizes", "phases", "phases"]
    assert [d["models"] for d in out["items"]] == [["mlp", "cnn"], ["mlp", "cnn"], ["mlp"], ["cnn"]]
    assert [d["all_models"] for d in out["items"]] == [True, True, False, False]
    assert out["facts"] == {"profile": "smoke", "train_images": 2000, "epochs_per_phase": 1,
                            "epochs_per_model": None, "others": False}
    assert out["like_for_like"] is False
    assert dep.run_departures({m: config(m) for m in STUDY}) == {"items": [], "facts": None, "like_for_like": True,
                                                                "illustrative": None}


def test_a_plugged_in_model_departs_only_in_run_wide_settings():
    cfg = config("cnn", profile="smoke") | {"model": "mine"}
    assert [d["what"] for d in dep.departures(cfg)] == ["profile", "data_sizes"]


def test_study_differences_name_what_the_full_protocol_changes_and_never_guess():
    full = STUDY["vgg16"].to_dict()
    study = {"optimizer": "sgd", "phases": [{"epochs": 10}], "backbone_lr_scale": "lower"}
    # Adam for SGD, two phases for one; a tenth of the head's rate is "lower", as the study had it.
    assert dep.study_differences(full, {"accuracy": 0.85, **study}) == ["optimizer", "phases"]
    # Nothing recorded about how the study trained: no verdict either way.
    assert dep.study_differences(full, {"accuracy": 0.85, "loss": 0.4}) is None
    assert dep.study_differences(full, None) is None
    # An unpublished rate matches any rate; a published one must be equal; epochs always count.
    same = {"optimizer": "adam", "phases": [{"epochs": 8}, {"lr": 1e-4, "epochs": 2}], "backbone_lr_scale": 0.1}
    assert dep.study_differences(full, same) == []
    assert dep.study_differences(full, {**same, "phases": [{"lr": 1e-2, "epochs": 8}, {"epochs": 2}]}) == ["phases"]
    assert dep.study_differences(full, {**same, "phases": [{"epochs": 9}, {"epochs": 1}]}) == ["phases"]
    # "lower" differs only from a tuned rate at or above the head's; a number must match.
    assert dep.study_differences({**full, "backbone_lr_scale": 1.0}, {"backbone_lr_scale": "lower"}) == \
        ["backbone_lr_scale"]
    assert dep.study_differences(full, {"backbone_lr_scale": 0.5}) == ["backbone_lr_scale"]
    # The built-in MLP trains as the study did.
    from bench.protocol import REFERENCE
    assert dep.study_differences(STUDY["mlp"].to_dict(), REFERENCE["mlp"]) == []
