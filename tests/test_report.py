import base64
import os
import re

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, classification_report

from bench import artifacts as art
from bench import report
from bench.errors import BenchError
from conftest import CLASSES, build_run


@pytest.fixture(scope="module")
def rendered(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.pdf"
    paths = report.render_report(tiny_run, out, title="Bench <script>alert(1)</script>", author="Ada L.",
                                 affiliation="Analytical Engines")
    return {"paths": paths, "html": out.with_suffix(".html").read_text(), "pdf": out}


SECTIONS = ["Summary", "1. Setup", "2. MLP", "3. CNN", "4. Comparison", "Ranking",
            "5. Transfer learning, loss and optimisers", "(a) Why transfer learning helps",
            "(b) What to do in the four cases", "(c) What this run froze and tuned", "(d) Why cross-entropy",
            "(e) SGD and Adam as used here", "Appendix", "Manifest", "Artifact files", "Calibration"]


def test_html_has_every_section(rendered):
    for heading in SECTIONS:
        assert f">{heading}<" in rendered["html"], heading


def test_title_is_escaped(rendered):
    assert "<script>alert(1)</script>" not in rendered["html"]
    assert "Bench &lt;script&gt;alert(1)&lt;/script&gt;" in rendered["html"]


def test_images_are_embedded_and_valid_png(rendered):
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', rendered["html"])
    # samples + per model (curves, confusion) + F1 chart + reliability
    assert len(uris) >= 2 * 2 + 3
    for u in uris:
        assert base64.b64decode(u)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "src=\"http" not in rendered["html"]  # self-contained


def _seed_preds(run_dir, model, seed):
    return art.read_predictions(art.seed_dir(run_dir, model, seed) / art.PREDICTIONS)


def test_tables_hold_independently_computed_numbers(rendered, tiny_run):
    html = rendered["html"]
    for model in ("mlp", "cnn"):
        accs, reports = [], []
        for seed in (0, 1):
            p = _seed_preds(tiny_run, model, seed)
            accs.append(accuracy_score(p["labels"], p["predicted"]))
            reports.append(classification_report(p["labels"], p["predicted"], labels=list(range(10)),
                                                 target_names=CLASSES, output_dict=True, zero_division=0))
        mean_acc = f"{100 * np.mean(accs):.1f}"
        assert mean_acc in html
        macro_f1 = f"{np.mean([r['macro avg']['f1-score'] for r in reports]):.3f}"
        assert macro_f1 in html
        cat_recall = f"{np.mean([r['cat']['recall'] for r in reports]):.3f}"
        assert cat_recall in html


def test_summary_json_and_verdicts(rendered, tiny_run):
    import json

    summary = json.loads((rendered["pdf"].parent / "summary.json").read_text())
    assert set(summary["models"]) == {"mlp", "cnn"}
    pair = summary["pairs"][0]
    assert pair["n_seeds"] == 2 and len(pair["seeds"]) == 2
    ranks = [r["rank"] for r in summary["ranking"]]
    assert ranks[0] == 1 and ranks[1] in (1, 2)
    assert (ranks[1] == 1) == (not pair["significant"])
    for seed_stats in summary["models"]["mlp"]["per_seed"]:
        lo, hi = seed_stats["accuracy_ci"]
        assert lo <= seed_stats["accuracy"] <= hi


def test_pdf_pages_text_and_metadata(rendered):
    from pypdf import PdfReader

    reader = PdfReader(rendered["pdf"])
    assert 6 <= len(reader.pages) <= 30
    text = "\n".join(page.extract_text() for page in reader.pages)
    for heading in ("Per-class test metrics", "Test-set results", "Ranking", "Why cross-entropy"):
        assert heading in text
    assert reader.metadata.title.startswith("Bench <script>")
    assert reader.metadata.author == "Ada L."


def test_rendering_is_deterministic(tiny_run, tmp_path):
    a = report.render_report(tiny_run, tmp_path / "a.html")
    b = report.render_report(tiny_run, tmp_path / "b.html")
    assert a[1].read_bytes() == b[1].read_bytes()  # html
    assert a[0].read_bytes() == b[0].read_bytes()  # pdf


def test_diverged_and_incomplete_models_are_reported(tmp_path):
    run = build_run(tmp_path / "run", ["mlp"], [0])
    import dataclasses

    from bench.protocol import Phase, get_profile, spec_for
    from bench.train import RunOptions, fit
    from conftest import make_tiny_splits, tiny_facts

    splits = make_tiny_splits()
    spec = dataclasses.replace(spec_for("cnn", get_profile("smoke")), phases=(Phase(1e12, 2),), optimizer="sgd")
    m = fit(spec, splits, seed=0, options=RunOptions(), out_dir=art.seed_dir(run, "cnn", 0), data_facts=tiny_facts(splits))
    assert m["status"] == "diverged"
    # An interrupted model: config and history but no metrics.json.
    fit(spec_for("cnn_bn", get_profile("smoke")), splits, seed=0, options=RunOptions(),
        out_dir=art.seed_dir(run, "cnn_bn", 0), data_facts=tiny_facts(splits))
    (art.seed_dir(run, "cnn_bn", 0) / art.METRICS).unlink()
    paths = report.render_report(run, tmp_path / "r.pdf")
    html = paths[1].read_text()
    assert "CNN diverged" in html and "no finished run (diverged)" in html
    assert "did not finish" in html


@pytest.mark.parametrize("case,message", [
    ("missing", "does not exist"),
    ("empty", "not a bench artifacts directory"),
    ("no_models", "holds no trained model"),
    ("old_format", "artifact format"),
])
def test_bad_artifacts_directory(tmp_path, case, message):
    root = tmp_path / "arts"
    if case != "missing":
        root.mkdir()
    if case in ("no_models", "old_format"):
        art.write_json(root / art.MANIFEST, {"artifact_format": 1 if case == "no_models" else 0})
        art.write_json(root / art.DATASET, {"classes": CLASSES})
    out = tmp_path / "r.pdf"
    with pytest.raises(BenchError, match=message):
        report.render_report(root, out)
    assert not out.exists() and not out.with_suffix(".html").exists()


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
    assert report.check_out_path(tmp_path / "run" / "r.pdf", pending_dir=tmp_path / "run")
    with pytest.raises(BenchError, match="does not exist"):
        report.check_out_path(tmp_path / "other" / "r.pdf", pending_dir=tmp_path / "run")


def test_without_weasyprint_pdf_fails_cleanly_and_html_still_renders(tiny_run, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "weasyprint", None)  # makes `import weasyprint` raise ImportError
    with pytest.raises(BenchError, match="PDF rendering needs WeasyPrint and Pango.*--out report.html"):
        report.render_report(tiny_run, tmp_path / "r.pdf")
    assert list(tmp_path.iterdir()) == []
    notes = []
    paths = report.render_report(tiny_run, tmp_path / "r.html", log=notes.append)
    assert sorted(p.name for p in paths) == ["r.html", "summary.json"]
    assert not (tmp_path / "r.pdf").exists() and "<html" in (tmp_path / "r.html").read_text()
    assert any("no PDF written" in n for n in notes)


def test_ties_do_not_chain_across_significant_differences():
    # Built so that A~B and B~C are not significant (20 vs 10 discordant images, p = 0.10)
    # but A vs C is (40 vs 20, p = 0.013): B ties with A, and C must not inherit that rank.
    from bench.report import Artifacts

    y = np.arange(1000) % 10
    base = set(range(740))
    correct = {"a": base | set(range(740, 800)),
               "b": base | set(range(760, 810)),
               "c": base | set(range(780, 800)) | set(range(800, 820))}

    class Run:
        def __init__(self, model):
            right = np.isin(np.arange(1000), sorted(correct[model]))
            pred = np.where(right, y, (y + 1) % 10)
            self.model, self.seed, self.status, self.history, self.path = model, 0, "complete", [], None
            self.config = {"title": model.upper(), "parameters": {"total": 1, "trainable": 1, "frozen": 0}}
            self.metrics = {"status": "complete", "train_seconds": 1.0}
            self.predictions = {"labels": y, "logits": np.eye(10)[pred] * 5.0, "predicted": pred}

    arts = Artifacts(root=None, manifest={}, dataset={"classes": CLASSES}, samples_png=None,
                     runs=[Run("a"), Run("b"), Run("c")])
    summary = report.analyse(arts)
    sig = {(p["a"], p["b"]): p["significant"] for p in summary["pairs"]}
    assert sig == {("a", "b"): False, ("a", "c"): True, ("b", "c"): False}
    ranks = {r["model"]: r["rank"] for r in summary["ranking"]}
    assert ranks == {"a": 1, "b": 1, "c": 3}


def test_per_seed_intervals_are_shown(rendered, tiny_run):
    from bench.stats import wilson_interval

    p = _seed_preds(tiny_run, "cnn", 1)
    lo, hi = wilson_interval(int((p["predicted"] == p["labels"]).sum()), len(p["labels"]))
    assert f"[{100 * lo:.1f}, {100 * hi:.1f}]" in rendered["html"]
