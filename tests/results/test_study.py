"""bench.results.study.analyse on in-memory artifacts: every number of the report, plain data, no words.

The predictions are constructed (tests/results/memory_run.py), so every answer is known: which model is more
accurate, which seed is degenerate, which class is never predicted.
"""

import json
import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import accuracy_score

from bench.results import inference, stats
from bench.results.study import analyse
from memory_run import TRANSFER, memory_artifacts


@pytest.fixture(scope="module", autouse=True)
def fewer_resamples():
    """The percentile bootstraps at 1,000 resamples: the same code, a tenth of the time (10,000 is the
    default, checked in tests/results/test_stats.py)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stats, "N_RESAMPLES", 1000)
        yield


@pytest.fixture(scope="module")
def arts(tmp_path_factory):
    return memory_artifacts(tmp_path_factory.mktemp("run"), {"mlp": [0.40, 0.42, 0.41], "cnn": [0.70, 0.72, 0.71]})


@pytest.fixture(scope="module")
def summary(arts):
    return analyse(arts)


def test_the_mean_over_seeds_has_an_interval_with_both_sources_of_error(arts, summary):
    for model in ("mlp", "cnn"):
        runs = arts.of(model)
        accs = [accuracy_score(r.predictions["labels"], r.predictions["predicted"]) for r in runs]
        agg = summary["models"][model]["aggregate"]["accuracy"]
        assert agg["mean"] == pytest.approx(np.mean(accs)) and agg["n"] == 3
        inf = agg["inference"]
        correct = np.stack([r.predictions["predicted"] == r.predictions["labels"] for r in runs]).astype(float)
        v_test = inference.image_sampling_variance(correct)
        se = math.sqrt(np.var(accs, ddof=1) / 3 + v_test)
        assert inf["between_seed_sd"] == pytest.approx(np.std(accs, ddof=1))
        assert inf["test_set_se"] == pytest.approx(math.sqrt(v_test))
        assert agg["ci"]["high"] - agg["ci"]["low"] >= 2 * sps.norm.ppf(0.975) * se  # t, wider than normal
        assert agg["ci"]["method"] == "t_seeds_plus_test_set" and agg["ci"]["caution"]  # 3 < 5 seeds
        assert summary["models"][model]["aggregate"]["macro_f1"]["ci"]["method"] == "t_seeds_plus_test_set"
        for s in summary["models"][model]["per_seed"]:
            assert s["accuracy_ci"]["method"] == "wilson"
            assert {ci["method"] for ci in s["macro_ci"].values()} == {"bootstrap"}


def test_two_seeds_get_no_interval_over_seeds_and_one_seed_keeps_its_own(tmp_path):
    s = analyse(memory_artifacts(tmp_path, {"mlp": [0.40, 0.42], "cnn": [0.7]}))
    two = s["models"]["mlp"]["aggregate"]["accuracy"]
    assert two["ci"] is None and two["inference"]["reason"] == "too_few_seeds" and two["inference"]["low"] is None
    assert s["models"]["mlp"]["interval_method"] is None
    one = s["models"]["cnn"]["aggregate"]["accuracy"]
    assert one["ci"]["method"] == "wilson"
    # one seed against two: no configuration-level test, so no model ranks above the other
    (p,) = s["pairs"]
    assert p["configuration"]["reason"] == "too_few_seeds" and not p["significant"]
    assert [r["rank"] for r in s["ranking"]] == [1, 1]


def test_the_summary_is_plain_data_without_sentences(summary):
    json.dumps(summary)  # plain data: JSON-able as it is

    def strings(obj):
        if isinstance(obj, dict):
            return [s for v in obj.values() for s in strings(v)]
        if isinstance(obj, list):
            return [s for v in obj for s in strings(v)]
        return [obj] if isinstance(obj, str) else []

    # Codes and recorded names only: no string holds a space (method keys, statuses, titles of one word).
    assert [s for s in strings(summary) if " " in s] == [], "sentences in the numbers"
    assert summary["models"]["cnn"]["interval_method"] == "t_seeds_plus_test_set"
    assert summary["departure_facts"]["profile"] == "smoke" and summary["like_for_like"] is False


def test_models_are_compared_by_the_configuration_level_test_holm_adjusted(summary):
    (p,) = summary["pairs"]
    assert (p["a"], p["b"]) == ("cnn", "mlp")
    c = p["configuration"]
    assert c["unit"] == "configuration" and c["method"] == "welch_t_seeds_plus_test_set" and not c["paired"]
    assert c["difference"] == pytest.approx(0.30, abs=1e-9) and c["low"] > 0 and p["significant"]
    assert c["adjusted_p_value"] == pytest.approx(c["p_value"])  # a family of one
    assert summary["family"] == {"size": 1, "pairs": 1, "adjustment": "holm", "alpha": 0.05}
    for s in p["seeds"]:  # each seed's two networks, as checkpoints
        assert s["unit"] == "checkpoint" and s["acc_diff_ci"]["method"] == "mcnemar_midp_tango_score"
        assert s["acc_diff"] > 0 and s["decision"] == "a"
    assert [(r["model"], r["rank"]) for r in summary["ranking"]] == [("cnn", 1), ("mlp", 2)]
    assert summary["headline"]["best"] == "cnn" and summary["headline"]["margin"] == pytest.approx(0.30, abs=0.01)


def test_holm_over_three_models_and_a_ranking_that_follows_it(tmp_path):
    s = analyse(memory_artifacts(tmp_path, {"mlp": [0.40, 0.41, 0.42], "cnn": [0.70, 0.71, 0.72],
                                            "cnn_bn": [0.705, 0.715, 0.71]}))
    assert s["family"]["size"] == 3
    raw = sorted((p["configuration"]["p_value"], p["configuration"]["adjusted_p_value"]) for p in s["pairs"])
    assert raw[0][1] == pytest.approx(min(1.0, 3 * raw[0][0]))  # Holm: the smallest p times the family size
    ranks = {r["model"]: r["rank"] for r in s["ranking"]}
    assert ranks["cnn_bn"] == ranks["cnn"] == 1 and ranks["mlp"] == 3


def test_close_models_share_a_rank(tmp_path):
    s = analyse(memory_artifacts(tmp_path, {"mlp": [0.500, 0.51, 0.505], "cnn": [0.505, 0.5, 0.51]}))
    assert [r["rank"] for r in s["ranking"]] == [1, 1] and s["ranking"][1]["tied_with_previous"]
    assert s["pairs"][0]["decision"] == "none"


def test_a_degenerate_seed_is_listed_and_left_out(tmp_path):
    arts = memory_artifacts(tmp_path, {"mlp": [0.40, 0.42, 0.41, 0.43], "cnn": [0.7, 0.71, 0.72]})
    bad = arts.of("mlp")[3]
    labels = bad.predictions["labels"]
    logits = np.zeros((len(labels), 10), np.float32)
    logits[:, 3] = 5.0  # every image called class 3
    bad.predictions = {"labels": labels, "logits": logits, "predicted": logits.argmax(1)}
    arts.of("cnn")[2].history[1]["train_loss"] = float("nan")
    s = analyse(arts)
    mlp, cnn = s["models"]["mlp"], s["models"]["cnn"]
    assert [(d["seed"], d["rule"]) for d in mlp["degenerate"]] == [(3, "one_class_share")]
    assert mlp["degenerate"][0]["share"] == 1.0 and mlp["degenerate"][0]["class"] == 3
    assert [(d["seed"], d["rule"]) for d in cnn["degenerate"]] == [(2, "loss_not_finite")]
    assert mlp["aggregate"]["accuracy"]["n"] == 3 and mlp["aggregate"]["accuracy"]["mean"] == pytest.approx(0.41)
    assert len(mlp["per_seed"]) == 4 and mlp["per_seed"][3]["degenerate"]  # still listed
    assert s["pairs"][0]["configuration"]["n_seeds_a"] == 2  # cnn's two healthy seeds
    assert [x["seed"] for x in s["pairs"][0]["seeds"]] == [0, 1]


def test_an_undefined_score_is_none_and_the_averages_skip_it(tmp_path):
    arts = memory_artifacts(tmp_path, {"mlp": [0.5]})
    run = arts.of("mlp")[0]
    logits = run.predictions["logits"].copy()
    logits[:, 9] = -100.0  # class 9 never predicted: its precision is undefined
    run.predictions = {**run.predictions, "logits": logits, "predicted": logits.argmax(1)}
    e = analyse(arts)["models"]["mlp"]
    row = e["per_class"]["truck"]
    assert row["precision"]["mean"] is None and row["precision"]["undefined"] == 1
    assert row["recall"]["mean"] == 0.0  # defined (the class is in the labels) and truly 0
    defined = [e["per_class"][c]["precision"]["mean"] for c in e["per_class"] if c not in ("truck", "macro avg",
                                                                                        "weighted avg")]
    assert e["aggregate"]["macro_precision"]["mean"] == pytest.approx(np.mean(defined))


def test_reference_differences_without_interval_unless_like_for_like(summary, tmp_path):
    for e in summary["models"].values():
        d = e["reference_diff"]
        assert d["accuracy_ci"] is None and d["reason"] == "not_like_for_like" and d["like_for_like"] is False
        assert d["accuracy"] == pytest.approx(e["aggregate"]["accuracy"]["mean"] - e["reference"]["accuracy"])


def test_power_and_calibration_over_seeds(summary):
    pw = summary["power"]
    assert pw["n_test"] == 1000 and pw["n_seeds"] == 3 and 0 < pw["difference"] < 0.2
    assert pw["method"] == "noncentral_t_welch_seeds_plus_test_set"
    # Worked out where the decisions are made: Holm's first step, alpha over the family of tested pairs.
    assert pw["family"] == summary["family"]["size"] >= 1
    assert pw["alpha"] == pytest.approx(summary["alpha"] / pw["family"])
    cal = summary["models"]["cnn"]["calibration_over_seeds"]
    assert len(cal["per_seed"]) == 3 and cal["bins"] == 15 and cal["resamples"] == 10_000
    assert cal["mean"] == pytest.approx(np.mean([s["ece"] for s in cal["per_seed"]]))
    assert all(s["low"] <= s["ece"] <= s["high"] for s in cal["per_seed"])
    assert cal["interval"]["low"] is not None
    assert summary["bootstrap"]["resamples"] == stats.N_RESAMPLES and summary["bootstrap"]["seed"] == 0


def test_a_model_without_finished_runs_has_no_numbers(tmp_path):
    s = analyse(memory_artifacts(tmp_path, {"mlp": [0.4], "cnn": [0.7]}, statuses={("cnn", 0): "diverged"}))
    assert "aggregate" not in s["models"]["cnn"] and s["models"]["cnn"]["interval_method"] is None
    assert s["pairs"] == [] and s["headline"]["second"] is None


def test_a_plugged_in_transfer_model_is_analysed_like_any_other(tmp_path):
    structure = {"pretrained_backbone": True, "blocks": 4, "frozen_blocks": 2, "head": [256, 10]}
    s = analyse(memory_artifacts(tmp_path, {"cnn": [0.6], TRANSFER: [0.8]}, transfer=structure))
    assert s["ranking"][0]["model"] == TRANSFER and s["models"][TRANSFER]["reference"] is None
