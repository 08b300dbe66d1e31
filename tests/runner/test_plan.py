"""Planning a run: per-model settings and weights come from the registry, nothing is written (no training)."""

import pytest

from bench.config import RunOptions
from bench.models.registry import get_entry
from bench.protocol import get_profile
from bench.rundir.checks import fingerprint
from bench.runner.plan import plan_training, resolve_weights
from conftest import make_tiny_splits, tiny_data, tiny_facts

WEIGHTED = [name for name in ("mlp", "cnn", "cnn_bn", "vgg16") if get_entry(name).weights is not None]


def plan_for(tmp_path, models, **kwargs):
    splits = make_tiny_splits()
    return plan_training(models, [0, 3], data=tiny_data(splits), splits=splits, facts=tiny_facts(splits),
                         profile=get_profile("smoke"), options=RunOptions(), out=tmp_path / "run", **kwargs)


def test_only_models_whose_entry_asks_get_weights():
    assert WEIGHTED  # the study has one pretrained model
    resolved = resolve_weights(["mlp", *WEIGHTED], path=None, pretrained=False, download=False)
    assert set(resolved) == set(WEIGHTED)
    for name in WEIGHTED:
        assert resolved[name].state_dict is None and resolved[name].record["source"].startswith("none")


def test_builder_settings_are_the_entrys_defaults_with_the_users_values(tmp_path):
    (weighted,) = WEIGHTED
    weights = resolve_weights([weighted], path=None, pretrained=False, download=False)
    plan = plan_for(tmp_path, ["mlp", weighted], weights=weights, overrides={"frozen_blocks": 2, "unknown": 1})
    assert plan.model_kwargs["mlp"] == {}
    assert plan.model_kwargs[weighted] == {**get_entry(weighted).defaults, "frozen_blocks": 2}
    assert plan.state_dicts == {weighted: None} and plan.weights[weighted]["source"].startswith("none")
    assert plan.protocols[weighted]["model_kwargs"] == plan.model_kwargs[weighted]
    assert not (tmp_path / "run").exists()


def test_jobs_and_their_spec(tmp_path):
    plan = plan_for(tmp_path, ["mlp"], weights={})
    assert [job.key for job in plan.jobs()] == ["mlp/seed-0", "mlp/seed-3"]
    spec = plan.job_spec()
    assert spec.fingerprints["mlp/seed-3"] == fingerprint({**plan.protocols["mlp"], "seed": 3})
    assert spec.common["directory_fingerprint"] == fingerprint(plan.directory)
    assert spec.folder(plan.jobs()[1]) == tmp_path / "run" / "mlp" / "seed-3"


def test_a_model_that_needs_weights_cannot_be_planned_without_them(tmp_path):
    with pytest.raises(ValueError, match="resolved weights"):
        plan_for(tmp_path, WEIGHTED, weights={})
