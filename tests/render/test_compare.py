"""`bench compare RUN_A RUN_B`: matching, paired tests on a shared test set, intervals on different ones,
what differs, the files it writes, the terminal table and its refusals.

Three tiny run directories, trained once for the module through the real engine (so every test here is
slow; tests/render/test_compare_words.py and tests/results/test_compare_numbers.py test the same logic on
in-memory runs): A (mlp seeds 0-2 for 1 epoch, cnn seed 0), B (mlp seeds 0-3 for 2 epochs, the same data:
paired with A) and C (mlp seed 0 on other tiny splits: a different test set). Two PDFs are checked with the
pdf-layout rule.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats as sps

from bench.cli import cli
from bench.render import compare as page
from bench.render.text import method_text
from bench.results import compare as cmp
from bench.results import inference
from bench.results.paired import ALPHA
from bench.rundir import layout as art
from conftest import assert_one_line_error, build_run

pytestmark = pytest.mark.slow
METHODS = {k: method_text(k) for k in ("mcnemar_midp_tango_score", "paired_bootstrap", "t_seeds", "wilson",
                                       "welch_t_seeds_plus_test_set")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    a, b, c = root / "run-a", root / "run-b", root / "run-c"
    build_run(a, ["mlp"], [0, 1, 2], epochs=1)  # 3 seeds a side: the least a test over training runs needs
    build_run(a, ["cnn"], [0], epochs=1)
    build_run(b, ["mlp"], [0, 1, 2, 3], epochs=2)
    build_run(c, ["mlp"], [0], epochs=1, splits_seed=7)
    return {"a": a, "b": b, "c": c, "root": root}


@pytest.fixture(scope="module")
def paired(runs):
    return page.worded(cmp.compare(runs["a"], runs["b"]))


def _preds(run: Path, model: str, seed: int) -> dict:
    return art.read_predictions(art.seed_dir(run, model, seed) / art.PREDICTIONS)


def rewrite_predictions(run: Path, model: str, seed: int, labels: np.ndarray, logits: np.ndarray) -> None:
    """New predictions for a seed, with its metrics.json and manifest entry updated to match (SHA-256, accuracy),
    as a run trained that way would have them: the run directory's integrity checks refuse anything else."""
    folder = art.seed_dir(run, model, seed)
    art.write_predictions(folder / art.PREDICTIONS, labels, logits)
    metrics = art.read_json(folder / art.METRICS)
    metrics["predictions_sha256"] = art.sha256_file(folder / art.PREDICTIONS)
    metrics["test"]["accuracy"] = float(np.mean(logits.argmax(1) == labels))
    art.write_json(folder / art.METRICS, metrics)
    manifest = art.read_json(run / art.MANIFEST)
    manifest["models"][art.run_key(model, seed)]["test_accuracy"] = metrics["test"]["accuracy"]
    art.write_json(run / art.MANIFEST, manifest)


def drop_from_manifest(run: Path, *keys: str) -> None:
    """Models or seeds removed from a run as if they had never been trained: gone from its manifest too."""
    manifest = art.read_json(run / art.MANIFEST)
    manifest["models"] = {k: v for k, v in manifest["models"].items() if not k.startswith(keys)}
    art.write_json(run / art.MANIFEST, manifest)


def _rule(p: float, ci: dict) -> str:
    """The decision rule, written out independently: B - A established only when test and interval agree."""
    if p < ALPHA and ci["low"] > 0:
        return "b"
    if p < ALPHA and ci["high"] < 0:
        return "a"
    return "none"


# ----------------------------------------------------------------------------- paired runs


def test_matches_models_and_seeds(paired):
    assert paired["matched"] == {"models": ["mlp"], "only_a": ["cnn"], "only_b": []}
    assert paired["models"]["mlp"]["seeds"] == {"shared": [0, 1, 2], "only_a": [], "only_b": [3]}
    assert paired["a"]["models"] == {"mlp": [0, 1, 2], "cnn": [0]} and paired["b"]["models"] == {"mlp": [0, 1, 2, 3]}


def test_same_test_set_is_paired_and_mcnemar_counts_match_a_direct_computation(runs, paired):
    assert paired["paired"] and paired["test_set"]["same"]
    assert paired["test_set"]["a"] == paired["test_set"]["b"]
    rows = paired["models"]["mlp"]["per_seed"]
    assert [r["seed"] for r in rows] == [0, 1, 2]
    for r in rows:
        pa, pb = _preds(runs["a"], "mlp", r["seed"]), _preds(runs["b"], "mlp", r["seed"])
        y = pa["labels"]
        ca, cb = pa["predicted"] == y, pb["predicted"] == y
        a_only, b_only = int((ca & ~cb).sum()), int((~ca & cb).sum())
        m, k = a_only + b_only, min(a_only, b_only)
        exact = 1.0 if m == 0 else sps.binomtest(a_only, m, 0.5).pvalue
        midp = 1.0 if m == 0 else min(1.0, 2 * sps.binom.cdf(k, m, 0.5) - sps.binom.pmf(k, m, 0.5))
        assert r["mcnemar"]["a_only"] == a_only and r["mcnemar"]["b_only"] == b_only
        assert r["mcnemar"]["p_value"] == pytest.approx(midp) and r["mcnemar"]["exact_p_value"] == pytest.approx(exact)
        assert r["mcnemar"]["test"] == METHODS["mcnemar_midp_tango_score"]
        assert r["accuracy_a"] == pytest.approx(ca.mean()) and r["accuracy_b"] == pytest.approx(cb.mean())
        assert r["acc_diff"] == pytest.approx(cb.mean() - ca.mean())
        assert r["n"] == len(y)


def test_intervals_are_present_named_and_verdicts_follow_the_test(runs, paired):
    e = paired["models"]["mlp"]
    for r in e["per_seed"]:  # two trained networks: Tango's interval, the verdict about them only
        assert r["acc_diff_ci"]["method"] == METHODS["mcnemar_midp_tango_score"]
        assert r["f1_diff_ci"]["method"] == METHODS["paired_bootstrap"]
        for key in ("acc_diff_ci", "f1_diff_ci"):
            assert r[key]["confidence"] == 0.95 and r[key]["low"] <= r[key]["high"]
        assert r["acc_diff_ci"]["low"] - 1e-12 <= r["acc_diff"] <= r["acc_diff_ci"]["high"] + 1e-12
        assert r["decision"] == _rule(r["mcnemar"]["p_value"], r["acc_diff_ci"])
        assert r["significant"] == (r["mcnemar"]["p_value"] < ALPHA)
        assert ("network is more accurate" in r["sentence"]) == (r["decision"] != "none")
    # The runs: the configuration-level test over all healthy seeds (A 0-2; B 0-3: not the same, unpaired).
    o = e["overall"]
    y = _preds(runs["a"], "mlp", 0)["labels"]
    pa = np.stack([_preds(runs["a"], "mlp", s)["predicted"] for s in (0, 1, 2)])
    pb = np.stack([_preds(runs["b"], "mlp", s)["predicted"] for s in (0, 1, 2, 3)])
    c = inference.compare_configurations(y, pb, pa, seeds_a=[0, 1, 2, 3], seeds_b=[0, 1, 2])
    assert o["acc_diff_ci"]["method"] == METHODS["welch_t_seeds_plus_test_set"]
    assert (o["acc_diff_ci"]["low"], o["acc_diff_ci"]["high"]) == pytest.approx((c["low"], c["high"]))
    assert o["mean_acc_diff"] == pytest.approx(c["difference"]) and not o["configuration"]["paired"]
    assert o["decision"] == {"a": "b", "b": "a", "none": "none"}[c["decision"]]
    assert o["n_seeds"] == 3 and o["n_significant"] == sum(r["significant"] for r in e["per_seed"])


def test_lists_what_differs(paired):
    rows = {r["key"]: r for r in paired["differences"]["protocol"]["mlp"]}
    assert rows["spec.epochs"]["a"] == 1 and rows["spec.epochs"]["b"] == 2
    assert "spec.phases" in rows and "seed" not in rows
    # Same machine and data: no run setting differs (the commit could, if one lands between the builds).
    assert {r["key"] for r in paired["differences"]["settings"]} <= {"git_commit"}
    assert {"data.test", "device_type", "precision", "torch_threads", "executor.name"} <= set(
        paired["differences"]["same_settings"])
    assert "spec.epochs" in paired["differences_headline"]


def test_a_clear_difference_is_called_with_its_numbers(runs, tmp_path):
    """B made right on 90 % of the test images (predictions rewritten consistently): B is more accurate, per seed
    and overall."""
    better = tmp_path / "better"
    shutil.copytree(runs["b"], better)
    for seed in (0, 1, 2, 3):
        path = art.seed_dir(better, "mlp", seed) / art.PREDICTIONS
        p = art.read_predictions(path)
        y = p["labels"]
        logits = np.zeros_like(p["logits"])
        right = np.arange(len(y)) % 10 < 9           # 90 % right
        logits[np.arange(len(y)), np.where(right, y, (y + 1) % 10)] = 5.0
        rewrite_predictions(better, "mlp", seed, y, logits)
    s, written = page.write_compare(runs["a"], better, tmp_path / "better.html")
    # One --out rule with the report's: .html also writes the PDF (where WeasyPrint can).
    assert [w.name for w in written] == ["better.pdf", "better.html", "better.summary.json"]
    e = s["models"]["mlp"]
    for r in e["per_seed"]:
        assert r["decision"] == "b" and r["mcnemar"]["p_value"] < 0.001 and r["acc_diff_ci"]["low"] > 0
        assert r["sentence"].startswith("B's network is more accurate than A's for MLP (+")
        assert "mid-p McNemar p < 0.001" in r["sentence"] and r["sentence"].endswith(f"at seed {r['seed']}.")
    assert e["overall"]["decision"] == "b" and e["overall"]["n_b_better"] == 3
    assert e["overall"]["sentence"].startswith("B is more accurate than A for MLP (+")
    html = (tmp_path / "better.html").read_text()
    assert "B is more accurate than A for MLP" in html


def test_a_seed_unfinished_in_one_run_is_named_not_compared(runs, tmp_path):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(runs["b"], unfinished)
    (art.seed_dir(unfinished, "mlp", 1) / art.METRICS).unlink()
    manifest = art.read_json(unfinished / art.MANIFEST)  # as an interrupted job leaves it: not recorded complete
    manifest["models"][art.run_key("mlp", 1)]["status"] = "interrupted"
    art.write_json(unfinished / art.MANIFEST, manifest)
    s = page.worded(cmp.compare(runs["a"], unfinished))
    e = s["models"]["mlp"]
    assert [r["seed"] for r in e["per_seed"]] == [0, 2] and e["not_compared"] == [{"seed": 1, "reason": "B: incomplete"}]
    assert e["overall"]["n_seeds"] == 2 and "mlp seed 1 not compared (B: incomplete)" in page.format_table(s)


# ----------------------------------------------------------------------------- unpaired runs


def test_different_test_sets_compare_intervals_without_a_test(runs, tmp_path):
    s, _ = page.write_compare(runs["a"], runs["c"], tmp_path / "unpaired.html")
    assert not s["paired"] and "different test sets" in s["test_set"]["sentence"]
    assert s["test_set"]["a"]["digest"] != s["test_set"]["b"]["digest"]
    e = s["models"]["mlp"]
    assert "per_seed" not in e and "overall" not in e
    u = e["unpaired"]
    assert u["a"]["seeds"] == [0, 1, 2] and u["a"]["ci"]["method"] == METHODS["t_seeds"]
    assert u["b"]["seeds"] == [0] and u["b"]["ci"]["method"] == METHODS["wilson"]
    pc = _preds(runs["c"], "mlp", 0)
    acc_c = float((pc["predicted"] == pc["labels"]).mean())
    assert u["b"]["accuracy"] == pytest.approx(acc_c)
    assert u["intervals_overlap"] == (u["a"]["ci"]["low"] <= u["b"]["ci"]["high"]
                                      and u["b"]["ci"]["low"] <= u["a"]["ci"]["high"])
    assert u["sentence"].startswith("Not paired for MLP (different test sets)") and "McNemar" not in u["sentence"]
    whats = {r["what"] for r in s["differences"]["settings"]}
    assert "data" in whats and {"data.test", "data.train"} <= {r["key"] for r in s["differences"]["settings"]}
    html = (tmp_path / "unpaired.html").read_text()
    assert "McNemar p</th>" not in html and "different test sets" in html


def test_rewritten_test_labels_make_runs_unpaired(runs, tmp_path):
    """Same images, other labels (dataset.json and predictions rewritten consistently): not paired."""
    other = tmp_path / "relabelled"
    shutil.copytree(runs["b"], other)
    import hashlib

    for seed in (0, 1, 2, 3):
        path = art.seed_dir(other, "mlp", seed) / art.PREDICTIONS
        p = art.read_predictions(path)
        labels = (p["labels"] + 1) % 10
        rewrite_predictions(other, "mlp", seed, labels, p["logits"])
    ds = art.read_json(other / art.DATASET)
    ds["test_labels_sha256"] = hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()
    art.write_json(other / art.DATASET, ds)
    s = page.worded(cmp.compare(runs["a"], other))
    assert not s["paired"] and "test labels differ" in s["test_set"]["sentence"]
    assert "test-set digests" not in s["test_set"]["sentence"]


# ----------------------------------------------------------------------------- the command


def test_command_writes_pdf_html_and_summary_with_a_clean_layout(runs, tmp_path, monkeypatch):
    pytest.importorskip("weasyprint")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["compare", str(runs["a"]), str(runs["b"])])
    assert result.exit_code == 0, result.output
    for name in ("compare.pdf", "compare.html", "compare.summary.json"):
        assert (tmp_path / name).is_file(), name
    assert not list(tmp_path.glob(".*.tmp"))
    summary = json.loads((tmp_path / "compare.summary.json").read_text())
    assert summary["kind"] == "bench compare" and summary["paired"] is True
    assert set(summary) >= {"a", "b", "matched", "models", "differences", "test_set", "methods", "decision_rule"}
    assert summary["matched"]["only_a"] == ["cnn"]
    assert summary["models"]["mlp"]["per_seed"][0]["mcnemar"]["test"] == METHODS["mcnemar_midp_tango_score"]
    # The terminal table: a header, a row per seed and the model's mean row, then what is only in one run.
    out = result.stdout
    lines = out.splitlines()
    head = next(line for line in lines if line.startswith("model"))
    for col in ("model", "seeds", "acc A %", "acc B %", "diff B-A [95 % CI]", "p", "verdict"):
        assert col in head
    mean_row = next(line for line in lines if line.startswith("mlp (runs)"))
    o = summary["models"]["mlp"]["overall"]
    assert "0,1,2 vs 0,1,2,3" in mean_row and f"{100 * o['mean_accuracy_a']:.2f}" in mean_row and o["verdict"] in mean_row
    assert "only in A: cnn" in out and "mlp seeds: only in B 3" in out
    assert "wrote compare.pdf" in result.stderr
    # Same fonts and stylesheet as the report; the layout passes the pdf-layout rule.
    html = (tmp_path / "compare.html").read_text()
    assert "compare.summary.json" in html
    from bench.render.assets import TEMPLATES_DIR

    assert (TEMPLATES_DIR / "style.css").read_text()[:200] in html
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    from test_layout import layout_defects, pdf_words

    pages = pdf_words(tmp_path / "compare.pdf")
    assert not layout_defects(pages), "\n".join(layout_defects(pages)[:20])
    text = " ".join(w[4] for p in pages for line in p["lines"] for w in line)
    assert "McNemar" in text and "spec.epochs" in text


def test_unpaired_pdf_layout(runs, tmp_path):
    """The unpaired page carries the long values (data digests) in its differences table."""
    pytest.importorskip("weasyprint")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    from test_layout import layout_defects, pdf_words

    result = CliRunner().invoke(cli, ["compare", str(runs["a"]), str(runs["c"]), "--out", str(tmp_path / "u.pdf")])
    assert result.exit_code == 0, result.output
    assert "not paired" in result.stdout
    pages = pdf_words(tmp_path / "u.pdf")
    assert not layout_defects(pages), "\n".join(layout_defects(pages)[:20])


@pytest.mark.parametrize("case", ["extension", "missing_dir", "missing_folder", "no_shared_model"])
def test_refusals_are_one_line(runs, tmp_path, case):
    a, b = str(runs["a"]), str(runs["b"])
    args = {"extension": [a, b, "--out", str(tmp_path / "c.txt")],
            "missing_dir": [a, str(tmp_path / "nope"), "--out", str(tmp_path / "c.html")],
            "missing_folder": [a, b, "--out", str(tmp_path / "no" / "c.html")],
            "no_shared_model": None}[case]
    if case == "no_shared_model":
        only_cnn = tmp_path / "only-cnn"
        shutil.copytree(runs["a"], only_cnn)
        shutil.rmtree(only_cnn / "mlp")
        drop_from_manifest(only_cnn, "mlp/")
        args = [str(only_cnn), b, "--out", str(tmp_path / "c.html")]
    line = assert_one_line_error(CliRunner().invoke(cli, ["compare", *args]))
    expected = {"extension": "--out must end in .pdf or .html, got 'c.txt'", "missing_dir": "does not exist",
                "missing_folder": "does not exist", "no_shared_model": "share no model"}[case]
    assert expected in line
    assert not list(tmp_path.glob("c.*"))
