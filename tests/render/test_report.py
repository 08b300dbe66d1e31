import base64
import html as html_lib
import json
import os
import re

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, classification_report

from bench.rundir import layout as art
from bench.render import facts, outputs, text
from bench.render import report as report
from bench.errors import BenchError
from conftest import CLASSES, build_run

RENDER_ARGS = {"title": "Bench <script>alert(1)</script>", "author": "Ada L.", "affiliation": "Analytical Engines"}


@pytest.fixture(scope="module")
def rendered(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.pdf"
    paths = report.render_report(tiny_run, out, **RENDER_ARGS)
    return {"paths": paths, "html": out.with_suffix(".html").read_text(), "pdf": out,
            "summary": json.loads(out.with_suffix(".summary.json").read_text())}


def text_of(html: str) -> str:
    """The words a reader sees: no style sheet, no embedded figures, no tags, one space between words."""
    html = re.sub(r"<head>.*?</head>", " ", html, flags=re.S)
    html = re.sub(r'src="data:[^"]*"', "", html)
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def pdf_text(path_or_bytes) -> str:
    import io

    from pypdf import PdfReader

    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    return "\n".join(page.extract_text() for page in PdfReader(src).pages)


SECTIONS = ["Results", "1. Setup", "2. MLP", "3. CNN", "4. Comparison", "Ranking",
            "5. Transfer learning, loss and optimisers", "(a) Why transfer learning helps",
            "(b) What to do in the four cases", "(c) What this run froze and tuned", "(d) Why cross-entropy",
            "(e) SGD and Adam as used here", "Appendix", "Manifest", "Artifact files", "Calibration"]


@pytest.mark.slow
def test_html_has_every_section(rendered):
    for heading in SECTIONS:
        assert f">{heading}<" in rendered["html"], heading


@pytest.mark.slow
def test_title_is_escaped(rendered):
    assert "<script>alert(1)</script>" not in rendered["html"]
    assert "Bench &lt;script&gt;alert(1)&lt;/script&gt;" in rendered["html"]


@pytest.mark.slow
def test_images_are_embedded_and_valid(rendered):
    uris = re.findall(r'src="data:image/(png|svg\+xml);base64,([A-Za-z0-9+/=]+)"', rendered["html"])
    # samples + per model (curves, confusion) + F1 chart + reliability
    assert len(uris) >= 2 * 2 + 3
    for mime, u in uris:
        data = base64.b64decode(u)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" if mime == "png" else b"<svg" in data[:4096]
    assert "src=\"http" not in rendered["html"]  # self-contained


def _seed_preds(run_dir, model, seed):
    return art.read_predictions(art.seed_dir(run_dir, model, seed) / art.PREDICTIONS)


@pytest.mark.slow
def test_tables_hold_independently_computed_numbers(rendered, tiny_run):
    html = rendered["html"]
    for model in ("mlp", "cnn"):
        accs, reports = [], []
        # the healthy seeds: a degenerate one (one class >= 95 % of predictions) stays out of the means
        for seed in rendered["summary"]["models"][model]["healthy_seeds"]:
            p = _seed_preds(tiny_run, model, seed)
            accs.append(accuracy_score(p["labels"], p["predicted"]))
            reports.append(classification_report(p["labels"], p["predicted"], labels=list(range(10)),
                                                 target_names=CLASSES, output_dict=True, zero_division=np.nan))
        mean_acc = f"{100 * np.mean(accs):.1f}"
        assert mean_acc in html
        macro_f1 = f"{np.mean([r['macro avg']['f1-score'] for r in reports]):.3f}"
        assert macro_f1 in html
        cat_recall = f"{np.mean([r['cat']['recall'] for r in reports]):.3f}"
        assert cat_recall in html


@pytest.mark.slow
def test_summary_json_and_verdicts(rendered, tiny_run):
    summary = rendered["summary"]
    assert set(summary["models"]) == {"mlp", "cnn"}
    pair = summary["pairs"][0]
    both = set(summary["models"]["mlp"]["healthy_seeds"]) & set(summary["models"]["cnn"]["healthy_seeds"])
    assert pair["n_seeds"] == len(both) == len(pair["seeds"])
    ranks = [r["rank"] for r in summary["ranking"]]
    assert ranks[0] == 1 and ranks[1] in (1, 2)
    assert (ranks[1] == 1) == (not pair["significant"])
    for seed_stats in summary["models"]["mlp"]["per_seed"]:
        ci = seed_stats["accuracy_ci"]
        assert ci["low"] <= seed_stats["accuracy"] <= ci["high"]


@pytest.mark.slow
def test_pdf_pages_text_and_metadata(rendered):
    from pypdf import PdfReader

    reader = PdfReader(rendered["pdf"])
    assert 6 <= len(reader.pages) <= 30
    text = "\n".join(page.extract_text() for page in reader.pages)
    for heading in ("Per-class test metrics", "Test-set results", "Ranking", "Why cross-entropy"):
        assert heading in text
    assert reader.metadata.title.startswith("Bench <script>")
    assert reader.metadata.author == "Ada L."


@pytest.mark.slow
def test_rendering_is_deterministic(rendered, tiny_run, tmp_path):
    again = report.render_report(tiny_run, tmp_path / "report.pdf", **RENDER_ARGS)
    assert again[1].read_text() == rendered["html"]
    assert again[0].read_bytes() == rendered["pdf"].read_bytes()
    assert json.loads(again[2].read_text()) == rendered["summary"]


@pytest.mark.slow
def test_diverged_and_incomplete_models_are_reported(tmp_path):
    run = build_run(tmp_path / "run", ["mlp"], [0])
    import dataclasses

    from bench.protocol import Phase, get_profile, spec_for
    from bench.engine.train import RunOptions, fit
    from conftest import make_tiny_splits, tiny_facts

    splits = make_tiny_splits()
    same_dir = {"directory_fingerprint": art.read_json(run / art.MANIFEST)["fingerprint"],
                "profile": dataclasses.asdict(get_profile("smoke"))}
    spec = dataclasses.replace(spec_for("cnn", get_profile("smoke")), phases=(Phase(1e12, 2),), optimizer="sgd")
    m = fit(spec, splits, seed=0, options=RunOptions(), out_dir=art.seed_dir(run, "cnn", 0), data_facts=tiny_facts(splits),
            **same_dir)
    assert m["status"] == "diverged"
    # An interrupted model: config and history but no metrics.json.
    fit(spec_for("cnn_bn", get_profile("smoke")), splits, seed=0, options=RunOptions(),
        out_dir=art.seed_dir(run, "cnn_bn", 0), data_facts=tiny_facts(splits), **same_dir)
    (art.seed_dir(run, "cnn_bn", 0) / art.METRICS).unlink()
    arts = report.load_artifacts(run)
    html = report.render_html(report.build_context(arts, report.analyse(arts), title=None, author="", affiliation="",
                                                   data_dir=None))
    assert "CNN diverged" in html and "no finished run (diverged)" in html
    assert "did not finish" in html


@pytest.mark.parametrize("case,message", [
    ("missing", "does not exist"),
    ("empty", "not a bench artifacts directory"),
    ("no_models", "holds no trained model"),
    ("old_format", "artifact format"),
])
@pytest.mark.slow
def test_bad_artifacts_directory(tiny_run, tmp_path, case, message):
    root = tmp_path / "arts"
    if case != "missing":
        root.mkdir()
    if case == "no_models":  # a run's manifest and dataset.json, but no model folder
        for name in (art.MANIFEST, art.DATASET):
            (root / name).write_bytes((tiny_run / name).read_bytes())
    if case == "old_format":
        art.write_json(root / art.MANIFEST, {"artifact_format": 0})
        art.write_json(root / art.DATASET, {"classes": CLASSES})
    out = tmp_path / "r.pdf"
    with pytest.raises(BenchError, match=message):
        report.render_report(root, out)
    assert not out.exists() and not out.with_suffix(".html").exists()


@pytest.mark.slow
def test_bad_out_paths(tiny_run, tmp_path):
    with pytest.raises(BenchError, match=r"must end in \.pdf or \.html"):
        report.render_report(tiny_run, tmp_path / "r.docx")
    with pytest.raises(BenchError, match="does not exist"):
        report.render_report(tiny_run, tmp_path / "nope" / "r.pdf")
    if os.geteuid() != 0:  # root can write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(BenchError, match="not writable"):
            report.render_report(tiny_run, ro / "r.pdf")
    assert list(tmp_path.iterdir()) == [] or all(p.name == "ro" for p in tmp_path.iterdir())
    # A folder the command will create itself (bench all's run directory) passes; others still fail.
    assert outputs.check_out(tmp_path / "run" / "r.pdf", pending_dir=tmp_path / "run")
    with pytest.raises(BenchError, match="does not exist"):
        outputs.check_out(tmp_path / "other" / "r.pdf", pending_dir=tmp_path / "run")


@pytest.mark.slow
def test_without_weasyprint_pdf_fails_cleanly_and_html_still_renders(tiny_run, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "weasyprint", None)  # makes `import weasyprint` raise ImportError
    with pytest.raises(BenchError, match="PDF rendering needs WeasyPrint and Pango.*--out report.html"):
        report.render_report(tiny_run, tmp_path / "r.pdf")
    assert list(tmp_path.iterdir()) == []
    notes = []
    paths = report.render_report(tiny_run, tmp_path / "r.html", log=notes.append)
    assert sorted(p.name for p in paths) == ["r.html", "r.summary.json"]
    assert not (tmp_path / "r.pdf").exists() and "<html" in (tmp_path / "r.html").read_text()
    assert any("no PDF written" in n for n in notes)


def runs_with_accuracies(accuracies: dict[str, list[float]], n: int = 5_000) -> list:
    """Seed runs whose correct images are a random set of exactly the given share (independent per model and seed:
    the test set's sampling variance of a difference is then ~0, and the seeds' spread decides)."""
    y = np.arange(n) % 10
    runs = []

    class Run:
        def __init__(self, model, seed, accuracy):
            right = np.zeros(n, bool)
            right[np.random.default_rng([ord(model), seed]).permutation(n)[: int(round(accuracy * n))]] = True
            pred = np.where(right, y, (y + 1) % 10)
            self.model, self.seed, self.status, self.history, self.path = model, seed, "complete", [], None
            self.config = {"title": model.upper(), "parameters": {"total": 1, "trainable": 1, "frozen": 0}}
            self.metrics = {"status": "complete", "train_seconds": 1.0}
            self.predictions = {"labels": y, "logits": np.eye(10)[pred] * 5.0, "predicted": pred}

    for model, accs in accuracies.items():
        runs += [Run(model, seed, acc) for seed, acc in enumerate(accs)]
    return runs


@pytest.mark.slow
def test_a_model_ranks_below_another_only_where_the_adjusted_tests_say_so(monkeypatch):
    # Seeds spread by SD 0.003; A - B = B - C = 0.6 points (t about 2.4, p about 0.07: not established) and
    # A - C = 1.2 points (p about 0.008, Holm x3 about 0.025: established). C is below A, but not below B, so no
    # cut separates it: the three share rank 1 (ties are never broken by a chain of untested steps).
    from bench.render.report import Artifacts
    from bench.results import stats

    monkeypatch.setattr(stats, "N_RESAMPLES", 1000)  # the per-seed bootstraps play no part here
    arts = Artifacts(root=None, manifest={}, dataset={"classes": CLASSES}, samples_png=None,
                     runs=runs_with_accuracies({"a": [0.797, 0.800, 0.803], "b": [0.791, 0.794, 0.797],
                                                "c": [0.785, 0.788, 0.791]}))
    summary = report.analyse(arts)
    sig = {(p["a"], p["b"]): p["significant"] for p in summary["pairs"]}
    assert sig == {("a", "b"): False, ("a", "c"): True, ("b", "c"): False}
    adjusted = {(p["a"], p["b"]): p["configuration"]["adjusted_p_value"] for p in summary["pairs"]}
    assert adjusted[("a", "c")] < 0.05 < adjusted[("a", "b")]
    assert {r["model"]: r["rank"] for r in summary["ranking"]} == {"a": 1, "b": 1, "c": 1}
    # With B as far from C as A is, the cut falls below B: A and B share rank 1, C ranks 3.
    arts.runs = runs_with_accuracies({"a": [0.797, 0.800, 0.803], "b": [0.795, 0.798, 0.801],
                                      "c": [0.782, 0.785, 0.788]})
    ranks = {r["model"]: r["rank"] for r in report.analyse(arts)["ranking"]}
    assert ranks == {"a": 1, "b": 1, "c": 3}


@pytest.mark.slow
def test_per_seed_intervals_are_shown(rendered, tiny_run):
    from bench.results.stats import wilson_interval

    p = _seed_preds(tiny_run, "cnn", 1)
    lo, hi = wilson_interval(int((p["predicted"] == p["labels"]).sum()), len(p["labels"]))
    assert f"[{100 * lo:.1f}, {100 * hi:.1f}]" in rendered["html"]


# ----------------------------------------------------------------------------- runs written by hand
# Artifacts shaped like a real run of any protocol, without training: configs from the protocol tables,
# predictions designed to give chosen accuracies and ties. Rendered through build_context + render_html.

FULL_SIZES = {"train": 45_000, "val": 5_000, "test": 10_000}
FINISHED = "2025-03-04T05:06:07.000+00:00"
# Images 0..n-1 that each model gets right: A and B differ on 30 + 20 images (McNemar p = 0.20, tied),
# C is 10 points lower than both (significant).
RIGHT = {"mlp": range(0, 8000), "cnn": (*range(0, 7970), *range(8000, 8020)), "vgg16": range(0, 7000)}


def fake_config(model, seed=0, *, profile="full", sizes=FULL_SIZES, epochs=None, image_size=32, frozen_blocks=3,
                pretrained=True, pipeline="fast"):
    from dataclasses import asdict

    from bench.models.registry import get_entry
    from bench.protocol import get_profile, spec_for

    prof = get_profile(profile)
    entry = get_entry(model)
    kwargs, layers, weights = {}, [], {"source": "", "sha256": None}
    if model == "vgg16":
        kwargs = {"frozen_blocks": frozen_blocks, "image_size": image_size}
        layers = [{"name": f"features.{i}", "layer": "MaxPool2d", "params": 0, "trainable": False} for i in range(5)]
        layers += [{"name": "head.1", "layer": "Linear 512→256", "params": 131328, "trainable": True},
                   {"name": "head.4", "layer": "Linear 256→10", "params": 2570, "trainable": True}]
        weights = ({"source": "torchvision VGG16_Weights.IMAGENET1K_V1", "sha256": "ab" * 32} if pretrained else
                   {"source": "none (random initialisation, --no-pretrained)", "sha256": None})
    return {"artifact_format": 2, "model": model, "title": entry.title, "description": entry.description,
            "parameters": {"total": 1000, "trainable": 800, "frozen": 200} if model == "vgg16" else
            {"total": 1000, "trainable": 1000, "frozen": 0}, "layers": layers,
            "compute": {"spec": spec_for(model, prof, epochs=epochs).to_dict(), "seed": seed, "model_kwargs": kwargs,
                        "weights_source": weights["source"], "weights_sha256": weights["sha256"],
                        "profile": asdict(prof), "sizes": dict(sizes), "pipeline": pipeline, "precision": "fp32",
                        "channels_last": False, "compile": "none", "split_seed": 43}}


def fake_run(root, models=("mlp", "cnn", "vgg16"), seeds=(0,), *, sizes=FULL_SIZES, manifest_extra=None, **kw):
    """An in-memory Artifacts of a finished run (root: an empty folder for the file list)."""
    from bench.render.report import Artifacts, SeedRun

    n = sizes["test"]
    y = np.arange(n) % 10
    shapes = {k: [v, 32, 32, 3] for k, v in sizes.items()}
    shapes.update(train_file=[50_000, 32, 32, 3], test_file=[10_000, 32, 32, 3])
    counts = {k: {c: v // 10 for c in CLASSES} for k, v in sizes.items()}
    dataset = {"classes": CLASSES, "shapes": shapes, "counts": counts, "split_seed": 43,
               "normalisation": {"mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]},
               "checksums": {"train": {"sha256": "cd" * 32, "ok": True}, "test": {"sha256": "ef" * 32, "ok": True}},
               "augmentation": {"random_crop": 32, "padding": 4, "hflip_p": 0.5}}
    runs, entries = [], {}
    for model in models:
        for seed in seeds:
            cfg = fake_config(model, seed, sizes=sizes, **kw)
            right = np.isin(np.arange(n), np.asarray(RIGHT[model], dtype=int) % n)
            right = np.roll(right, 7 * seed)
            pred = np.where(right, y, (y + 1) % 10)
            logits = (np.eye(10)[pred] * 3.0).astype(np.float32)
            phases = cfg["compute"]["spec"]["phases"]
            lrs = [p["lr"] for p in phases for _ in range(p["epochs"])]
            history = [{"epoch": e + 1, "phase": 0, "lr": lr, "train_loss": 2.0 / (e + 1), "train_acc": 0.5,
                        "val_loss": 2.1 / (e + 1), "val_acc": 0.5, "seconds": 1.0} for e, lr in enumerate(lrs)]
            runs.append(SeedRun(model, seed, root / model / f"seed-{seed}", cfg, history, "complete",
                                {"status": "complete", "train_seconds": 60.0},
                                {"labels": y, "logits": logits, "predicted": pred}))
            entries[f"{model}/seed-{seed}"] = {"status": "complete", "wall_seconds": 61.0, "train_seconds": 60.0,
                                               "test_accuracy": float(right.mean()), "command": ["bench", "all"],
                                               "started_at": "2025-03-04T04:00:00+00:00", "finished_at": FINISHED}
    manifest = {"artifact_format": 2, "device_name": "Test GPU", "git_commit": None, "seeds": list(seeds),
                "versions": {"bench": "0.1.0", "python": "3.11.7", "torch": "2.5.0", "cuda": None},
                "weights": {"vgg16": {"source": runs[-1].config["compute"]["weights_source"],
                                      "sha256": runs[-1].config["compute"]["weights_sha256"]}} if "vgg16" in models else None,
                "started_at": "2025-03-04T04:00:00+00:00", "finished_at": FINISHED, "train_wall_seconds": 3900.0,
                "models": entries, **(manifest_extra or {})}
    return Artifacts(root, manifest, dataset, None, runs)


def render(arts) -> tuple[dict, str]:
    """The worded summary (what summary.json keeps) and the HTML of in-memory artifacts."""
    context = report.build_context(arts, report.analyse(arts), title=None, author="", affiliation="", data_dir=None)
    return context["summary"], report.render_html(context)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    arts = fake_run(tmp_path_factory.mktemp("full"))
    summary, html = render(arts)
    return {"arts": arts, "summary": summary, "html": html, "text": text_of(html)}


@pytest.mark.slow
def test_full_protocol_run_states_its_own_sizes_and_epochs_and_has_no_banner(full_run):
    text, summary = full_run["text"], full_run["summary"]
    assert summary["departures"] == [] and summary["like_for_like"] is True
    assert '<div class="departure-banner">' not in full_run["html"] and "not like-for-like" not in text
    assert "This run trains on 45,000 images and validates on 5,000" in text
    assert "on 10,000 test images" in text and "2,000 training" not in text and "2,000 images" not in text
    assert "trained on 45,000 images for 10–40 epochs" in text
    assert "0.1 for 10 epochs 0.01 for 10 epochs 0.001 for 10 epochs 0.0001 for 10 epochs" in text
    # The transfer discussion follows the run: 32 px inputs, 3 of 5 blocks frozen, a 10-epoch Adam budget.
    assert "keeps the first 3 of its 5 convolutional blocks frozen (200 parameters: the generic low-level " \
        "filters), tunes blocks 4–5 and trains a new head (global average pooling, 512→256→10" in text
    assert "7 times smaller on each side than ImageNet's 224, so the last of the 5 blocks sees a 1×1 map" in text
    assert "From epoch 9 the rates drop to 0.1× their starting value" in text
    assert "short budgets such as the 10 epochs of the CNN and VGG16 transfer here" in text
    assert "the MLP's protocol compensates with 4 phases, dividing the rate by 10 at each change" in text
    # Metadata is what ran: date of the last finish, no null version, bench version without a git commit.
    assert "Trained until 2025-03-04" in text and "None" not in text and "cuda" not in text
    assert "bench 0.1.0 (no git commit recorded)" in text and "SHA-256 " + "ab" * 32 in text


@pytest.mark.slow
def test_departures_are_listed_in_a_banner_and_the_reference_is_not_like_for_like(tmp_path):
    arts = fake_run(tmp_path, models=("mlp", "vgg16"), epochs=5, image_size=64, pretrained=False,
                    pipeline="torchvision")
    summary, html = render(arts)
    text = text_of(html)
    banner = text_of(re.search(r'<div class="departure-banner">.*?</div>', html, re.S).group(0))
    assert banner.startswith("Changed protocol: 5 epochs per model, other settings listed below; not comparable "
                             "like-for-like with the reference study.")
    for words in ("MLP: 5 epochs in learning-rate phases of 5 at 0.1 instead of the full protocol's 40",
                  "VGG16 transfer: 5 epochs", "inputs upsampled to 64×64 pixels instead of 32×32",
                  "no pretrained weights", "The torchvision input pipeline instead of the default fast one"):
        assert words in banner, words
    assert {d["what"] for d in summary["departures"]} == {"phases", "image_size", "pretraining", "pipeline"}
    assert summary["like_for_like"] is False
    assert re.search(r"Table \d+ sets the reference study's published results beside these, as plain differences "
                     r"without intervals", text)
    assert re.search(r"Test-set results[^.]*\. Brackets[^.]*\.[^.]*: not like-for-like", text)
    assert "Inputs are upsampled from 32×32 to 64×64 pixels, 3.5 times smaller" in text
    assert "No pretrained weights were loaded" in text and "transfer model is better" not in text


@pytest.mark.parametrize("change,what,words", [
    ({"epochs": 12}, "phases", "12 epochs in learning-rate phases of 8 at 0.001, 4 at 0.0001 instead of the full protocol's 10"),
    ({"image_size": 64}, "image_size", "inputs upsampled to 64×64 pixels"),
    ({"pretrained": False}, "pretraining", "no pretrained weights"),
    ({"frozen_blocks": 5}, "frozen_blocks", "5 frozen convolutional blocks instead of 3"),
    ({}, None, None),
])
@pytest.mark.slow
def test_banner_exactly_when_the_protocol_departs(tmp_path, change, what, words):
    from bench.results.departures import departures

    cfg = fake_config("vgg16", **change)
    found = departures(cfg)
    assert [d["what"] for d in found] == ([what] if what else [])
    if words:
        assert words in text.departure_text(found[0])


@pytest.mark.slow
def test_ranks_are_explicit_and_the_same_in_html_and_pdf(full_run):
    ranks = {r["title"]: r["rank"] for r in full_run["summary"]["ranking"]}
    # One seed a model: no test whose unit is the training run, so no model ranks below another.
    assert ranks == {"MLP": 1, "CNN": 1, "VGG16 transfer": 1}
    rows = re.findall(r'<td class="num rank">(\d+)</td><td><strong>(.*?)</strong>', full_run["html"])
    assert {html_lib.unescape(re.sub(r"<[^>]+>", "", t)).replace("\u00a0", " "): int(r) for r, t in rows} == ranks
    text = pdf_text(outputs.render_pdf(full_run["html"]))
    ranking = text[text.index("against the model above"):].replace("\u00a0", " ")  # titles keep no-break spaces
    for title, rank in ranks.items():
        assert re.search(rf"(^|\n)\s*{rank}\s+{re.escape(title)}\s", ranking), (title, rank, ranking[:400])
    assert "4. CNN" not in text and "2 CNN" not in ranking


@pytest.mark.slow
def test_verdicts_never_contradict_their_test_or_interval(full_run, rendered):
    for summary in (full_run["summary"], rendered["summary"]):
        for p in summary["pairs"]:
            for s in p["seeds"]:  # two trained networks: a side only when the test and its interval agree
                ci = s["acc_diff_ci"]
                if s["verdict"].startswith("these networks differ"):
                    assert s["p_value"] < summary["alpha"] and (ci["low"] > 0 or ci["high"] < 0)
                assert "better" not in s["verdict"]
            c = p["configuration"]  # the models: only the Holm-adjusted configuration-level test
            if p["significant"]:
                assert c["adjusted_p_value"] < summary["alpha"] and c["low"] > 0 and "better" in p["verdict"]
            else:
                assert "better" not in p["verdict"]
    cnn_vs_mlp = next(p for p in full_run["summary"]["pairs"] if {p["a"], p["b"]} == {"mlp", "cnn"})
    assert cnn_vs_mlp["seeds"][0]["verdict"] == "no significant difference between these networks"
    # The transfer discussion follows the numbers: one seed a model, so the models are not compared, and the
    # networks' difference is stated as what it is.
    assert "The VGG16 transfer and the CNN cannot be compared as models: each needs at least 3 healthy seeds. " \
        "Their networks of seed 0 differ by \u22129.9 points [" in full_run["text"]
    assert "did better" not in full_run["text"]


@pytest.mark.slow
def test_confusion_counts_are_one_test_set_with_several_seeds(rendered, tiny_run):
    summary, text = rendered["summary"], text_of(rendered["html"])
    n_test = len(_seed_preds(tiny_run, "mlp", 0)["labels"])
    for model, e in summary["models"].items():
        assert len(e["complete_seeds"]) == 2
        counts = np.array(e["confusion"]["counts"])
        first = e["healthy_seeds"][0]
        assert counts.sum() == e["confusion"]["total"] == n_test and e["confusion"]["seed"] == first
        p = _seed_preds(tiny_run, model, first)
        assert (counts.sum(1) == np.bincount(p["labels"], minlength=10)).all()
        assert sum(e["per_class"][c]["support"] for c in CLASSES) == n_test
        assert all(c["count"] <= e["per_class"][c["true"]]["support"] for c in e["top_confusions"])
        basis = (f"seed {first}" if len(e["healthy_seeds"]) == 1 else f"seed {first} (the first of "
                 f"{len(e['healthy_seeds'])} healthy seeds; counts of one test set, not summed over seeds)")
        assert f"Confusion matrix of {e['title']} on the {n_test} test images, {basis}" in text
    assert "macro avg" in text and re.search(rf"macro avg [^a-z]* {n_test} weighted avg [^a-z]* {n_test}", text)


@pytest.mark.slow
def test_summary_json_names_every_method(rendered):
    s = rendered["summary"]
    assert "McNemar" in s["test"] and "paired percentile bootstrap" in s["bootstrap"]["description"]
    assert "Holm" in s["methods"]["holm"] and "Welch" in s["methods"]["welch_t_seeds_plus_test_set"]
    assert "Holm" in s["decision_rule"] and s["references"]["holm"].startswith("Holm, S. (1979)")
    for e in s["models"].values():
        for seed in e["per_seed"]:
            assert seed["accuracy_ci"]["method"].startswith("Wilson") and seed["accuracy_ci"]["confidence"] == 0.95
            assert all("bootstrap" in ci["method"] for ci in seed["macro_ci"].values())
        # two healthy seeds: no interval over seeds, and the reason kept; one: its own Wilson interval
        acc = e["aggregate"]["accuracy"]
        assert acc["inference"]["reason"] == "too_few_seeds"
        assert acc["ci"] is None if acc["n"] == 2 else acc["ci"]["method"].startswith("Wilson")
        assert ("pooled" in e["calibration"]["basis"]) == (acc["n"] > 1)
    for p in s["pairs"]:
        assert p["configuration"]["method"].startswith("Welch t test over training runs")
        for seed in p["seeds"]:
            assert "McNemar" in seed["test"] and "Tango" in seed["acc_diff_ci"]["method"]
            assert "bootstrap" in seed["f1_diff_ci"]["method"]


@pytest.mark.slow
def test_smoke_run_says_so_and_states_its_own_sizes(rendered, tiny_run):
    text = text_of(rendered["html"])
    first_page = text.split("Contents")[0]
    assert '<div class="departure-banner">' in rendered["html"] and first_page.count("Smoke profile") == 1
    assert "256 training / 64 validation / 100 test images instead of 45,000 / 5,000 / 10,000" in first_page
    assert "MLP: 2 epochs" in first_page and "CNN: 2 epochs" in first_page
    assert "This run trains on 256 images and validates on 64" in text and "on 100 test images" in text
    assert "not like-for-like" in text
    # No protocol fact of the full study is claimed for this run.
    for claim in ("45,000 labelled", "ten-epoch", "10 epochs each", "seven times"):
        assert claim not in text


@pytest.mark.slow
def test_wording(rendered, full_run):
    for html in (rendered["html"], full_run["html"]):
        text = text_of(html).split("Artifact files")[0]
        assert "; The" not in text and "ADAM" not in text and "None" not in text
        assert not re.findall(r"[a-z)%]\.[A-Z][a-z]", text), re.findall(r".{30}[a-z)%]\.[A-Z][a-z].{10}", text)
        # Sentences of the prose (paragraphs, list items, captions) start with a capital.
        # A command in <code> keeps its own case ("bench verify ... checks"): read as a capitalised word.
        uncoded = re.sub(r"<code\b[^>]*>.*?</code>", "Code", html, flags=re.S)
        prose = " ".join(text_of(p) for p in re.findall(r"<(?:p|li|caption|figcaption)\b.*?</(?:p|li|caption|figcaption)>",
                                                         uncoded, re.S))
        prose = prose.replace("e.g. ", "").replace("i.e. ", "")
        assert not re.findall(r"\. [a-z]", prose), re.findall(r".{30}\. [a-z].{10}", prose)


def test_report_date_comes_from_the_manifest(tmp_path):
    arts = fake_run(tmp_path, models=("mlp",))
    assert facts.run_record(arts, [])["date"] == "2025-03-04"
    arts.manifest.pop("finished_at")
    arts.manifest["models"]["mlp/seed-0"]["finished_at"] = "2025-05-06T23:59:00+00:00"
    assert facts.run_record(arts, [])["date"] == "2025-05-06"
    arts.manifest["models"]["mlp/seed-0"].pop("finished_at")
    assert facts.run_record(arts, [])["date"] is None


@pytest.mark.slow
def test_older_records_render_without_their_missing_fields(tmp_path):
    arts = fake_run(tmp_path, models=("mlp", "vgg16"))
    arts.manifest = {"artifact_format": 2, "versions": {"bench": "0.1.0", "cuda": None}}
    for r in arts.runs:
        for key in ("sizes", "pipeline", "weights_sha256", "compile", "model_kwargs"):
            r.config["compute"].pop(key, None)
    for key in ("checksums", "augmentation", "split_seed"):
        arts.dataset.pop(key)
    summary, html = render(arts)
    text = text_of(html)
    assert summary["departures"] == []  # missing kwargs are the builder's defaults, the study's
    assert "Trained until" not in text and "None" not in text and "cuda" not in text
    assert "This run trains on 45,000 images" in text and "keeps the first 3 of its 5" in text
    assert "SHA-256 not recorded" in text and "reproduce not recorded" in text
