"""bench.render.text: the sentences of the study's numbers (departures, verdicts), in the active language."""

import sys
from pathlib import Path

import pytest

from bench.render import i18n, text
from bench.results import departures as dep

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "results"))  # tests/results/test_departures.py
from test_departures import config  # noqa: E402


@pytest.mark.parametrize("changes,sentence", [
    ({"batch_size": 64}, "batch size 64 instead of 128"),
    ({"optimizer": "sgd"}, "optimizer SGD instead of Adam"),
    ({"weight_decay": 0.0}, "weight decay 0 instead of 0.0005"),
    ({"augment": False}, "training augmentation off instead of on"),
    ({"epochs": 3}, "3 epochs in learning-rate phases of 3 at 0.001 instead of the full protocol's 10 "
                    "(8 at 0.001, 2 at 0.0001)"),
    ({"pipeline": "torchvision"}, "the torchvision input pipeline instead of the default fast one"),
    ({"sizes": {"train": 45_000, "val": 5_000, "test": 5_000}},
     "45,000 training / 5,000 validation / 5,000 test images instead of 45,000 / 5,000 / 10,000"),
])
def test_each_kind_of_departure_is_named(changes, sentence):
    (d,) = dep.departures(config("cnn", **changes))
    assert text.departure_text(d) == sentence


def test_transfer_model_departures_are_named():
    transfer = next(m for m in dep.STUDY if "frozen_blocks" in dep.study_kwargs(m))
    cfg = config(transfer, kwargs={"frozen_blocks": 1, "image_size": 96}, source="none (random initialisation)")
    assert {d["what"]: text.departure_text(d) for d in dep.departures(cfg)} == {
        "image_size": "inputs upsampled to 96×96 pixels instead of 32×32",
        "frozen_blocks": "1 frozen convolutional block instead of 3",
        "pretraining": "no pretrained weights (random initialisation) instead of ImageNet's"}


def test_smoke_run_departures_are_merged_and_headlined():
    out = dep.run_departures({m: config(m, profile="smoke") for m in ("mlp", "cnn")})
    sentences = [d["sentence"] for d in text.departure_items(out["items"], {"mlp": "MLP", "cnn": "CNN"})]
    assert sentences[:2] == ["The smoke profile, not the full protocol.",
                             "2,000 training / 500 validation / 1,000 test images instead of 45,000 / 5,000 / 10,000."]
    assert sentences[2].startswith("MLP: 4 epochs in learning-rate phases of 1 at 0.1, 1 at 0.01")
    assert sentences[3].startswith("CNN: 2 epochs")
    assert text.departure_headline(out["facts"]) == (
        "Smoke profile: 2,000 training images, 1 epoch per learning-rate phase; "
        "not comparable like-for-like with the reference study")
    assert text.departure_headline(None) is None
    with i18n.activated(i18n.Language("fa")):
        assert "پروفایل" in text.departure_headline(out["facts"])
