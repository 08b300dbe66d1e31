"""The transfer-learning, loss and optimiser answers (report_templates/_narrative.html.j2, bench.render.transfer):
each general answer is tied to the run it describes: its cell of the four-case table (from its own sizes), the
parameters it froze and tuned (from its recorded structure), what it can say about pretraining without a
from-scratch control, and what its epochs cost (from its own histories).

Fast: the section is rendered alone, from in-memory runs (tests/results/memory_run.py); one slow test reads the PDF.
"""

from __future__ import annotations

import html as html_lib
import re
import statistics
import sys
from pathlib import Path

import pytest

from bench.models import registry
from bench.render import facts, i18n, outputs, report
from bench.render.text import percent
from bench.render.transfer import LARGE_PER_CLASS, MAX_TUNED_PER_IMAGE, transfer_facts
from bench.render.verdicts import worded_summary
from bench.results import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "results"))  # tests/results/memory_run.py
from memory_run import SIZES, TRANSFER, memory_artifacts  # noqa: E402

SCRATCH = "resnet_tl_scratch"  # the same network as TRANSFER, trained from random weights
STRUCTURE = {"backbone": "a test backbone", "pretrained_backbone": True, "blocks": 4, "frozen_blocks": 2,
             "head": [256, 10], "conv_channels": [8, 16, 32, 64]}


def layers(frozen_blocks: int) -> list[dict]:
    """A recorded layer list: 4 conv blocks (the first `frozen_blocks` frozen), a pool and a two-layer head."""
    out = []
    for b, params in enumerate((1_792, 36_928, 295_168, 2_359_808)):
        out += [{"layer": f"Conv2d {b}", "name": f"features.{2 * b}", "params": params, "trainable": b >= frozen_blocks},
                {"layer": "MaxPool2d", "name": f"features.{2 * b + 1}", "params": 0, "trainable": False}]
    return out + [{"layer": "AdaptiveAvgPool2d", "name": "pool", "params": 0, "trainable": False},
                  {"layer": "Linear 64→256", "name": "head.1", "params": 16_640, "trainable": True},
                  {"layer": "Linear 256→10", "name": "head.4", "params": 2_570, "trainable": True}]


def recorded(cfg: dict) -> dict:
    """Frozen, trainable, total and head parameters, summed from the recorded layer list."""
    trainable = sum(x["params"] for x in cfg["layers"] if x["trainable"])
    frozen = sum(x["params"] for x in cfg["layers"] if not x["trainable"])
    head = sum(x["params"] for x in cfg["layers"] if x["name"].startswith("head"))
    return {"trainable": trainable, "frozen": frozen, "total": trainable + frozen, "head": head}


def make_run(root: Path, *, train: int = SIZES["train"], frozen_blocks: int = 2, with_transfer: bool = True,
             control: bool = False, seconds: dict | None = None, val_acc: dict | None = None,
             train_acc: dict | None = None, tuned_extra: int = 0):
    """In-memory artifacts of a smoke-shaped run: MLP, CNN and (optionally) a pretrained plug-in model with a
    recorded structure, its from-scratch control, `train` training images and chosen epoch times."""
    accuracies = {"mlp": [0.30, 0.32], "cnn": [0.40, 0.42]}
    if with_transfer:
        accuracies[TRANSFER] = [0.70, 0.72]
    if control:
        accuracies[SCRATCH] = [0.50, 0.51]
    structure = {**STRUCTURE, "frozen_blocks": frozen_blocks}
    # 200 test images: the section's words do not depend on the test set's size, and the analysis is faster.
    arts = memory_artifacts(root, accuracies, test=200, transfer=structure if with_transfer else None)
    arts.dataset["shapes"]["train"][0] = train
    for run in arts.runs:
        cfg = run.config = {**run.config, "compute": {**run.config["compute"], "sizes": {**SIZES, "train": train}}}
        if run.model in (TRANSFER, SCRATCH):
            cfg["structure"] = {**structure, "pretrained_backbone": run.model == TRANSFER}
            cfg["compute"]["weights_source"] = ("file pretrained.pth" if run.model == TRANSFER
                                                else "none (random initialisation, --no-pretrained)")
            cfg["layers"] = layers(frozen_blocks)
            if tuned_extra:
                cfg["layers"] = cfg["layers"] + [{"layer": "Linear", "name": "features.extra",
                                                  "params": tuned_extra, "trainable": True}]
            counts = recorded(cfg)
            cfg["parameters"] = {k: counts[k] for k in ("frozen", "trainable", "total")}
        run.history = [{**h, "seconds": (seconds or {}).get(run.model, h["seconds"]),
                        "val_acc": (val_acc or {}).get(run.model, h["val_acc"]),
                        "train_acc": (train_acc or {}).get(run.model, h["train_acc"])} for h in run.history]
    return arts


def models_of(arts, summary: dict) -> list[dict]:
    """What report.model_context gives the section, without drawing its figures."""
    weights = facts.weights(arts)
    out = []
    for name in arts.models():
        runs = arts.of(name)
        out.append({"name": name, "title": summary["models"][name]["title"], "config": runs[0].config,
                    "spec": runs[0].config["compute"]["spec"], "runs": runs, "weights": weights.get(name)})
    return out


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def narrative(arts, lang: str = "en") -> tuple[dict, str]:
    """The section's facts and its HTML, rendered alone in `lang`, with its table numbered."""
    language = i18n.Language(lang)
    with i18n.activated(language):
        summary = worded_summary(report.analyse(arts))
        models = models_of(arts, summary)
        context = {"transfer": transfer_facts(summary, models, facts.data_facts(arts)),
                   "optimisers": facts.optimiser_facts(models), "models": models, "classes": summary["classes"],
                   "conf": percent(language.plain(100 * stats.CONFIDENCE))}
        return context, outputs.render_page("_narrative.html.j2", language, **context)


def marked_cell(html: str) -> str:
    cells = re.findall(r'<td class="this-case">(.*?)</td>', html, re.S)
    assert len(cells) == 1, cells
    return text_of(cells[0])


# ----------------------------------------------------------------------------- the case of the four-case table


def test_a_smoke_run_is_small_and_similar_and_says_why(tmp_path):
    arts = make_run(tmp_path)
    _ctx, html = narrative(arts)
    text = text_of(html)
    cfg = arts.of(TRANSFER)[0].config
    per_image = recorded(cfg)["trainable"] / SIZES["train"]
    assert per_image > MAX_TUNED_PER_IMAGE / 100  # the run's own numbers, not the rule's, are printed
    assert (f"on {SIZES['train']:,} images, {SIZES['train'] // 10:,} a class, with {per_image:,.0f} trained "
            "parameters per image: the “small dataset, similar data” case of Table 1") in text
    assert f"at least {LARGE_PER_CLASS:,} images a class" in text and f"at most {MAX_TUNED_PER_IMAGE:,} parameters" in text
    assert marked_cell(html).startswith("this run Freeze the whole pretrained network")
    assert "Table 1. What to do with a pretrained network" in text


def test_a_large_run_lands_in_another_case(tmp_path):
    arts = make_run(tmp_path, train=45_000)
    _ctx, html = narrative(arts)
    text = text_of(html)
    per_image = recorded(arts.of(TRANSFER)[0].config)["trainable"] / 45_000
    assert f"on 45,000 images, 4,500 a class, with {per_image:,.0f} trained parameters per image: the “large " \
        "dataset, similar data” case" in text
    assert marked_cell(html).startswith("this run Fine-tune: keep the pretrained weights")
    assert "This follows the advice for its case." in text and "does not follow" not in text


def test_many_tuned_parameters_per_image_make_a_large_set_small(tmp_path):
    """The rule's second half: 4,500 images a class, but far more tuned parameters than the images can carry."""
    extra = 45_000 * MAX_TUNED_PER_IMAGE
    arts = make_run(tmp_path, train=45_000, tuned_extra=extra)
    _ctx, html = narrative(arts)
    per_image = recorded(arts.of(TRANSFER)[0].config)["trainable"] / 45_000
    assert per_image > MAX_TUNED_PER_IMAGE
    assert f"with {per_image:,.0f} trained parameters per image: the “small dataset, similar data” case" in text_of(html)


# ----------------------------------------------------------------------------- frozen and tuned, and the advice


def test_frozen_and_tuned_counts_are_the_recorded_structures(tmp_path):
    arts = make_run(tmp_path)
    ctx, html = narrative(arts)
    text = text_of(html)
    counts = recorded(arts.of(TRANSFER)[0].config)
    assert counts["trainable"] == arts.of(TRANSFER)[0].config["parameters"]["trainable"]
    assert f"keeps the first 2 of its 4 convolutional blocks frozen ({counts['frozen']:,} parameters" in text
    assert f"{counts['trainable']:,} of its {counts['total']:,} parameters are trained" in text
    # The small-and-similar advice is to freeze everything; this run tunes blocks 3-4: said plainly, with counts.
    assert (f"This run does not follow that advice: besides the head's {counts['head']:,} parameters it tunes "
            f"{counts['trainable'] - counts['head']:,} parameters of the pretrained blocks, on {SIZES['train']:,} "
            f"training images; freezing every block would train the head's {counts['head']:,} alone.") in text
    # The same split on the full protocol's training set is in the large case, whose advice it follows.
    full = counts["trainable"] / 45_000
    assert f"On the full protocol's 45,000 training images ({full:,.0f} trained parameters per image) the same " \
        "split would be in the “large dataset, similar data” case, whose advice it follows" in text
    assert ctx["transfer"]["frozen_params"] == counts["frozen"]


def test_freezing_every_block_follows_the_small_case_advice(tmp_path):
    arts = make_run(tmp_path, frozen_blocks=4)
    _ctx, html = narrative(arts)
    text = text_of(html)
    assert "keeps all 4 of its convolutional blocks frozen" in text
    assert "“small dataset, similar data” case" in text and "This follows the advice for its case." in text
    assert "does not follow" not in text


# ----------------------------------------------------------------------------- pretraining: control or not


def test_without_a_control_the_run_says_what_it_cannot_attribute_and_how_to(tmp_path):
    arts = make_run(tmp_path)
    _ctx, html = narrative(arts)
    text = text_of(html)
    assert "so they do not measure what pretraining itself contributed" in text
    assert "a from-scratch control), which this run does not have" in text
    control = f"bench train {TRANSFER} --no-pretrained --profile smoke --seeds 2 --artifacts {tmp_path}-no-pretrained"
    assert control in text and f"bench compare {tmp_path} {tmp_path}-no-pretrained" in text
    assert '<code dir="ltr" class="command"><span class="arg">bench</span> <span class="arg">train</span>' in html


def test_a_control_in_the_run_is_compared_with_numbers(tmp_path):
    arts = make_run(tmp_path, control=True)
    ctx, html = narrative(arts)
    text = text_of(html)
    summary = worded_summary(report.analyse(arts))
    mean = summary["models"][SCRATCH]["aggregate"]["accuracy"]["mean"]
    assert f"The same network trained from random weights, the {SCRATCH}, reached {100 * mean:.1f} % test accuracy." \
        in text
    pair = next(p for p in summary["pairs"] if {p["a"], p["b"]} == {TRANSFER, SCRATCH})
    assert pair["configuration"]["difference"] != 0 and ctx["transfer"]["control"]["sentence"] in text
    assert "differ only in their starting weights, so this difference is what pretraining contributed" in text
    assert "which this run does not have" not in text and "--no-pretrained" not in text
    # The control is not listed among the other architectures trained from scratch.
    assert all(c["model"] != SCRATCH for c in ctx["transfer"]["comparisons"])


def test_a_model_that_did_not_learn_is_named_not_compared(tmp_path):
    """Near-chance training accuracy (bench.results.learning): being ahead of such a model proves nothing."""
    arts = make_run(tmp_path, train_acc={"cnn": 0.11})
    ctx, html = narrative(arts)
    text = text_of(html)
    summary = worded_summary(report.analyse(arts))
    assert summary["models"]["cnn"]["learning"]["did_not_learn"] and not summary["models"]["mlp"]["learning"][
        "did_not_learn"]
    assert "The CNN did not learn in this run (see its section), so being ahead of it says nothing about transfer " \
        "learning." in text
    sentences = {c["model"]: c["sentence"] for c in ctx["transfer"]["comparisons"]}
    assert sentences["mlp"] in text and sentences["cnn"] not in text


# ----------------------------------------------------------------------------- cost, from the run's own clock


def test_costs_are_the_runs_own_epoch_times(tmp_path):
    arts = make_run(tmp_path, seconds={TRANSFER: 2.0, "mlp": 0.5, "cnn": 0.75},
                    val_acc={TRANSFER: 0.6, "mlp": 0.3, "cnn": 0.35})
    _ctx, html = narrative(arts)
    text = text_of(html)
    own = statistics.median(h["seconds"] for r in arts.of(TRANSFER) for h in r.history)
    assert f"An epoch of the {TRANSFER} took {own:.1f} s in this run (median over its epochs and seeds), against " \
        "0.5 s for the MLP and 0.8 s for the CNN." in text
    assert "each epoch of the resnet_tl cost more than any epoch of the models trained from scratch" in text
    epochs = len(arts.of("cnn")[0].history)
    assert (f"the CNN, ended at 35.0 % after {epochs} epochs ({0.75 * epochs:.1f} s of training). The {TRANSFER} "
            "passed that after 1 epoch (2.0 s).") in text
    # One epoch of the transfer model (2.0 s) against the CNN's whole training (3.0 s).
    assert "Here transfer learning saved training time, not only epochs." in text


# ----------------------------------------------------------------------------- a run without a transfer model


def test_a_run_without_a_transfer_model_still_answers_every_question(tmp_path):
    arts = make_run(tmp_path, with_transfer=False)
    _ctx, html = narrative(arts)
    text = text_of(html)
    parts = re.split(r"\(([a-e])\) ", text)
    answers = dict(zip(parts[1::2], parts[2::2]))
    assert set(answers) == set("abcde") and all(len(a) > 300 for a in answers.values()), \
        {k: len(v) for k, v in answers.items()}
    assert "No model of this run starts from pretrained weights" in answers["a"]
    assert "“small dataset, similar data” case of Table 1" in answers["c"]
    assert marked_cell(html).startswith("this run Freeze")
    candidate = next(e for e in registry.entries() if e.weights is not None)
    assert f"add the {candidate.title} to this run directory" in answers["c"]
    assert f"bench train {candidate.name} --profile smoke --seeds 2 --artifacts {tmp_path}" in answers["c"]


# ----------------------------------------------------------------------------- loss and optimisers


def test_optimisers_are_the_recorded_specs_one_sentence_per_setting(tmp_path):
    arts = make_run(tmp_path)
    _ctx, html = narrative(arts)
    text = text_of(html)
    specs = {m: arts.of(m)[0].config["compute"]["spec"] for m in arts.models()}
    adam = [m for m, s in specs.items() if s["optimizer"] == "adam"]
    assert len(adam) == 2 and specs[adam[0]]["phases"] == specs[adam[1]]["phases"]
    epochs = specs[adam[0]]["epochs"]
    rates = ", ".join(f"{p['lr']:g}" for p in specs[adam[0]]["phases"])
    assert f"The CNN and {TRANSFER} use Adam for {epochs} epochs (learning rates {rates}," in text
    sgd = specs["mlp"]
    assert f"The MLP uses SGD without momentum for {sgd['epochs']} epochs (learning rates" in text


# ----------------------------------------------------------------------------- Persian


@pytest.mark.parametrize("with_transfer", [True, False])
def test_persian_section_renders_with_commands_left_to_right(tmp_path, with_transfer):
    arts = make_run(tmp_path, with_transfer=with_transfer)
    _ctx, html = narrative(arts, "fa")
    assert "جدول ۱." in html and '<code dir="ltr" class="command">' in html
    assert re.search(r'<span class="arg">--artifacts</span> <span class="arg">[^<]*</span>', html)


# ----------------------------------------------------------------------------- the PDF


@pytest.mark.slow
def test_the_pdf_names_the_case_and_keeps_each_command_argument_whole(tmp_path):
    arts = make_run(tmp_path / "run")
    context = report.build_context(arts, report.analyse(arts), title=None, author="", affiliation="", data_dir=None)
    pdf = outputs.render_pdf(report.render_html(context))
    import io

    from pypdf import PdfReader

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    # Without the running footer, which a page break puts inside a sentence.
    text = re.sub(r"(?m)^.*\d+ / \d+$\n?", "", text)
    flat = re.sub(r"\s+", " ", text)
    assert "“small dataset, similar data” case of Table" in flat and "This run does not follow that advice" in flat
    lines = text.splitlines()
    for arg in context["transfer"]["control_command"] + context["transfer"]["compare_command"]:
        assert any(arg in line for line in lines), arg
