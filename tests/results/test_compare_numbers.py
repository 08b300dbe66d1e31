"""bench.results.compare: the numbers of `bench compare` on in-memory runs (B minus A, paired or not)."""

from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from bench.results import compare as cmp
from bench.results.paired import ALPHA
from memory_run import memory_artifacts  # tests/results, beside this file


def test_paired_seed_is_b_minus_a_with_mcnemar_counts_of_a_and_b():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 10, 2000)
    pred_a = np.where(rng.random(2000) < 0.9, y, (y + 1) % 10)
    pred_b = np.where(rng.random(2000) < 0.6, y, (y + 2) % 10)
    r = cmp.paired_seed(y, pred_a, pred_b, num_classes=10, seed=0)
    ca, cb = pred_a == y, pred_b == y
    assert r["decision"] == "a" and r["acc_diff"] == pytest.approx(cb.mean() - ca.mean()) and r["acc_diff"] < 0
    assert r["acc_diff_ci"]["high"] < 0 and r["acc_diff_ci"]["method"] == "mcnemar_midp_tango_score"
    assert r["unit"] == "checkpoint" and r["f1_diff_ci"]["method"] == "paired_bootstrap"
    a_only, b_only = int((ca & ~cb).sum()), int((~ca & cb).sum())
    assert (r["mcnemar"]["a_only"], r["mcnemar"]["b_only"]) == (a_only, b_only)
    # mid-p: the exact two-sided p-value less the probability of the observed count (Fagerland et al. 2013)
    m, k = a_only + b_only, min(a_only, b_only)
    assert r["mcnemar"]["p_value"] == pytest.approx(2 * sps.binom.cdf(k, m, 0.5) - sps.binom.pmf(k, m, 0.5))
    assert r["mcnemar"]["exact_p_value"] == pytest.approx(sps.binomtest(a_only, m).pvalue)
    same = cmp.paired_seed(y, pred_a, pred_a, num_classes=10)
    assert same["decision"] == "none" and same["mcnemar"]["p_value"] == 1.0 and same["acc_diff"] == 0.0


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    a = memory_artifacts(root / "a", {"mlp": [0.50, 0.52, 0.51], "cnn": [0.6]})
    b = memory_artifacts(root / "b", {"mlp": [0.70, 0.71, 0.69]})
    return cmp.compare_artifacts(a, b, Path("run-a"), Path("run-b"))


def test_matching_and_the_paired_comparison_over_seeds(paired):
    assert paired["paired"] and paired["test_set"]["differ"] == []
    assert paired["matched"] == {"models": ["mlp"], "only_a": ["cnn"], "only_b": []}
    e = paired["models"]["mlp"]
    assert e["seeds"] == {"shared": [0, 1, 2], "only_a": [], "only_b": []}
    assert [r["decision"] for r in e["per_seed"]] == ["b", "b", "b"]
    o = e["overall"]
    # The verdict is the configuration-level test over every healthy seed of each run (3 a side, the same seeds:
    # paired by seed), B minus A, whatever the per-seed rows say.
    c = o["configuration"]
    assert c["unit"] == "configuration" and c["paired"] and (c["n_seeds_a"], c["n_seeds_b"]) == (3, 3)
    assert o["mean_acc_diff"] == pytest.approx(0.70 - 0.51) and o["acc_diff_ci"]["method"] == "paired_t_seeds_plus_test_set"
    assert o["acc_diff_ci"]["low"] > 0 and o["decision"] == "b" and c["p_value"] < ALPHA
    assert o["n_b_better"] == 3 and o["n_significant"] == 3
    assert all(r["mcnemar"]["p_value"] < ALPHA for r in e["per_seed"])


def test_what_differs_between_the_runs(paired):
    assert paired["differences"]["settings"] == []
    assert paired["differences"]["protocol"] == {"mlp": []}
    assert "device_type" in paired["differences"]["same_settings"]


def test_different_test_sets_give_intervals_without_a_test(tmp_path):
    a = memory_artifacts(tmp_path / "a", {"mlp": [0.5, 0.52]})
    c = memory_artifacts(tmp_path / "c", {"mlp": [0.8]}, test=500, label_seed=7)
    s = cmp.compare_artifacts(a, c, Path("a"), Path("c"))
    assert not s["paired"] and s["test_set"]["differ"] == ["digests", "labels"]
    u = s["models"]["mlp"]["unpaired"]
    assert u["a"]["ci"]["method"] == "t_seeds" and u["b"]["ci"]["method"] == "wilson"
    assert not u["intervals_overlap"] and u["acc_diff"] == pytest.approx(0.8 - 0.51)
    assert "per_seed" not in s["models"]["mlp"]


def test_unfinished_seeds_are_named_with_their_status(tmp_path):
    a = memory_artifacts(tmp_path / "a", {"mlp": [0.5, 0.5]})
    b = memory_artifacts(tmp_path / "b", {"mlp": [0.5, 0.5]}, statuses={("mlp", 1): "diverged"})
    e = cmp.compare_artifacts(a, b, Path("a"), Path("b"))["models"]["mlp"]
    assert e["not_compared"] == [{"seed": 1, "statuses": [["B", "diverged"]]}]
    assert [r["seed"] for r in e["per_seed"]] == [0]
    # one healthy seed in B: no configuration-level test, so no verdict
    assert e["overall"]["configuration"]["reason"] == "too_few_seeds" and e["overall"]["decision"] == "none"


def runs_of_one_configuration(root: Path, seeds: list[int], *, accuracy: float, sd: float, seed: int):
    """A run of one model whose seeds are draws of one configuration: seed-level accuracies scatter by `sd`."""
    rng = np.random.default_rng(seed)
    arts = memory_artifacts(root, {"mlp": list(np.clip(rng.normal(accuracy, sd, len(seeds)), 0, 1))})
    for run, s in zip(arts.runs, seeds):
        run.seed = s
    return arts


def test_same_configuration_with_other_seeds_is_no_difference_with_an_interval_around_0(tmp_path):
    """Seeds 0-2 against seeds 3-5 of the same configuration: disjoint seeds, not paired; 'none', 0 inside."""
    a = runs_of_one_configuration(tmp_path / "a", [0, 1, 2], accuracy=0.6, sd=0.01, seed=1)
    b = runs_of_one_configuration(tmp_path / "b", [3, 4, 5], accuracy=0.6, sd=0.01, seed=2)
    e = cmp.compare_artifacts(a, b, Path("a"), Path("b"))["models"]["mlp"]
    assert e["seeds"]["shared"] == [] and e["per_seed"] == []
    o = e["overall"]
    assert o["decision"] == "none" and not o["configuration"]["paired"]
    assert o["acc_diff_ci"]["low"] < 0 < o["acc_diff_ci"]["high"]


def test_shared_seeds_are_paired_and_a_true_difference_is_found(tmp_path):
    a = memory_artifacts(tmp_path / "a", {"mlp": [0.50, 0.51, 0.50]})
    b = memory_artifacts(tmp_path / "b", {"mlp": [0.60, 0.61, 0.60]})
    o = cmp.compare_artifacts(a, b, Path("a"), Path("b"))["models"]["mlp"]["overall"]
    assert o["configuration"]["paired"] and o["configuration"]["method"] == "paired_t_seeds_plus_test_set"
    assert o["decision"] == "b" and o["acc_diff_ci"]["low"] > 0
