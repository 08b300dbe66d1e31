"""bench.results.analysis: departures from the study's protocol, intervals and decisions (no rendering, no training)."""

from dataclasses import asdict

import numpy as np
import pytest
from scipy import stats as sps

from bench.results import analysis as analysis
from bench.protocol import STUDY, get_profile, spec_for


def config(model, *, profile="full", sizes=None, kwargs=None, source=None, pipeline="fast", **spec_changes):
    prof = get_profile(profile)
    spec = spec_for(model, prof, **{k: v for k, v in spec_changes.items() if k == "epochs"}).to_dict()
    spec.update({k: v for k, v in spec_changes.items() if k != "epochs"})
    if sizes is None:
        sizes = dict(analysis.STUDY_SIZES) if profile == "full" else {"train": 2000, "val": 500, "test": 1000}
    if kwargs is None:
        kwargs = {"frozen_blocks": 3, "image_size": 32} if model == "vgg16" else {}
    if source is None:
        source = "torchvision VGG16_Weights.IMAGENET1K_V1" if model == "vgg16" else ""
    return {"model": model, "title": model.upper(),
            "compute": {"spec": spec, "model_kwargs": kwargs, "weights_source": source, "profile": asdict(prof),
                        "sizes": sizes, "pipeline": pipeline}}


@pytest.mark.parametrize("model", list(STUDY))
def test_the_built_in_protocol_has_no_departure(model):
    assert analysis.departures(config(model)) == []


@pytest.mark.parametrize("changes,what,text", [
    ({"batch_size": 64}, "batch_size", "batch size 64 instead of 128"),
    ({"optimizer": "sgd"}, "optimizer", "optimizer SGD instead of Adam"),
    ({"weight_decay": 0.0}, "weight_decay", "weight decay 0 instead of 0.0005"),
    ({"augment": False}, "augment", "training augmentation off instead of on"),
    ({"epochs": 3}, "phases", "3 epochs in learning-rate phases of 3 at 0.001 instead of the study's 10 "
                              "(8 at 0.001, 2 at 0.0001)"),
    ({"pipeline": "torchvision"}, "pipeline", "the torchvision input pipeline instead of the default fast one"),
    ({"sizes": {"train": 45_000, "val": 5_000, "test": 5_000}}, "data_sizes",
     "45,000 training / 5,000 validation / 5,000 test images instead of 45,000 / 5,000 / 10,000"),
])
def test_each_kind_of_departure_is_named(changes, what, text):
    found = analysis.departures(config("cnn", **changes))
    assert [(d["what"], d["text"]) for d in found] == [(what, text)]


def test_transfer_model_departures():
    cfg = config("vgg16", kwargs={"frozen_blocks": 1, "image_size": 96}, source="none (random initialisation)")
    assert {d["what"]: d["text"] for d in analysis.departures(cfg)} == {
        "image_size": "inputs upsampled to 96×96 pixels instead of 32×32",
        "frozen_blocks": "1 frozen convolutional block instead of 3",
        "pretraining": "no pretrained weights (random initialisation) instead of ImageNet's"}
    # Kwargs missing from an older config.json mean the builder's defaults: the study's.
    assert analysis.departures(config("vgg16", kwargs={})) == []


def test_smoke_run_departures_are_merged_and_headlined():
    configs = {m: config(m, profile="smoke") for m in ("mlp", "cnn")}
    out = analysis.run_departures(configs, {"mlp": "MLP", "cnn": "CNN"})
    sentences = [d["sentence"] for d in out["items"]]
    assert sentences[:2] == ["The smoke profile, not the full study.",
                             "2,000 training / 500 validation / 1,000 test images instead of 45,000 / 5,000 / 10,000."]
    assert sentences[2].startswith("MLP: 4 epochs in learning-rate phases of 1 at 0.1, 1 at 0.01")
    assert sentences[3].startswith("CNN: 2 epochs")
    assert out["headline"] == ("Smoke profile: 2,000 training images, 1 epoch per learning-rate phase; "
                               "not comparable like-for-like with the reference study")
    assert out["like_for_like"] is False
    assert analysis.run_departures({m: config(m) for m in STUDY}, {}) == {
        "items": [], "headline": None, "like_for_like": True}


def test_t_interval_over_seeds_matches_scipy_and_is_clipped():
    values = [0.80, 0.82, 0.81]
    ci = analysis.t_interval(values, (0.0, 1.0))
    lo, hi = sps.t.interval(0.95, 2, loc=np.mean(values), scale=sps.sem(values))
    assert (ci["low"], ci["high"]) == pytest.approx((lo, hi))
    assert ci["method"].startswith("Student t") and ci["confidence"] == 0.95
    wide = analysis.t_interval([0.0, 0.1], (0.0, 1.0))
    assert wide["low"] == 0.0 and wide["high"] <= 1.0


@pytest.mark.parametrize("p,ci,decision", [
    (0.01, (0.01, 0.03), "a"), (0.01, (-0.03, -0.01), "b"),
    (0.01, (-0.001, 0.02), "none"),   # test rejects, interval holds 0: not established
    (0.20, (0.001, 0.02), "none"),    # interval excludes 0, test does not reject: not established
    (0.20, (-0.01, 0.02), "none"),
])
def test_a_side_wins_only_when_test_and_interval_agree(p, ci, decision):
    assert analysis._decision(p, ci) == decision
