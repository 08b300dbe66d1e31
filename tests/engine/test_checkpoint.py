"""bench.engine.checkpoint: the one "finished?" and the one "consistent?", on files written here (no training)."""

import pytest
import torch

from bench.engine import checkpoint
from bench.errors import BenchError
from bench.rundir import layout as art


def _metrics(folder, **fields):
    art.write_json(folder / art.METRICS, {"fingerprint": "abc", "status": "complete", **fields})


@pytest.mark.parametrize("status,finished", [("complete", True), ("diverged", True), ("unfinished", False),
                                             ("running", False)])
def test_finished_means_metrics_with_this_fingerprint_and_a_final_status(tmp_path, status, finished):
    _metrics(tmp_path, status=status)
    assert checkpoint.is_finished(tmp_path, "abc") is finished
    assert checkpoint.is_finished(tmp_path, "another") is False


def test_no_metrics_is_not_finished(tmp_path):
    assert checkpoint.is_finished(tmp_path, "abc") is False
    assert checkpoint.is_finished(tmp_path / "absent", "abc") is False


def _state(epoch=2, rows=2, seconds=1.5, fingerprint="abc"):
    return {"fingerprint": fingerprint, "epoch": epoch, "history": [{}] * rows, "train_seconds": seconds}


def test_a_consistent_checkpoint_passes(tmp_path):
    checkpoint.check_checkpoint(_state(), 4, tmp_path / "c.pt")
    checkpoint.check_checkpoint(_state(epoch=4, rows=4), 4, tmp_path / "c.pt", fingerprint="abc")


@pytest.mark.parametrize("state,message", [
    (_state(epoch=0, rows=0), r"inconsistent \(epoch 0 of 4, 0 history rows\)"),
    (_state(epoch=5, rows=5), r"inconsistent \(epoch 5 of 4, 5 history rows\)"),
    (_state(epoch=2, rows=3), r"inconsistent \(epoch 2 of 4, 3 history rows\)"),
    (_state(epoch=True, rows=1), r"inconsistent \(epoch True of 4"),
    ({**_state(), "history": "rows"}, r"inconsistent \(epoch 2 of 4, \? history rows\)"),
    (_state(seconds="long"), r"inconsistent \(train_seconds 'long'\)"),
    ([1, 2], r"inconsistent \(not a checkpoint dictionary\)"),
])
def test_an_inconsistent_checkpoint_is_one_line(tmp_path, state, message):
    with pytest.raises(BenchError, match=message) as info:
        checkpoint.check_checkpoint(state, 4, tmp_path / "c.pt")
    assert "re-run with --force to start this model again" in info.value.message


def test_a_foreign_checkpoint_is_refused_with_the_callers_hint(tmp_path):
    with pytest.raises(BenchError, match=r"written with a different configuration; use another directory$"):
        checkpoint.check_checkpoint(_state(fingerprint="other"), 4, tmp_path / "c.pt", fingerprint="abc",
                                    hint="use another directory")


def test_save_then_restore_gives_back_the_state(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    path = tmp_path / art.CHECKPOINT
    history = [{"epoch": 1}, {"epoch": 2}]
    checkpoint.save(path, fingerprint="abc", history=history, elapsed=3.0, model=model, optimizer=opt,
                    scheduler=sched, device="cpu")
    other = torch.nn.Linear(3, 2)
    opt2 = torch.optim.SGD(other.parameters(), lr=0.1)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda e: 1.0)
    assert checkpoint.restore(path, fingerprint="abc", epochs=4, model=other, optimizer=opt2,
                              scheduler=sched2) == (history, 2, 3.0)
    assert torch.equal(other.weight, model.weight)
    with pytest.raises(BenchError, match="different configuration"):
        checkpoint.restore(path, fingerprint="xyz", epochs=4, model=other, optimizer=opt2, scheduler=sched2)
    with pytest.raises(BenchError, match=r"incomplete or inconsistent"):
        checkpoint.restore(path, fingerprint="abc", epochs=4, model=torch.nn.Linear(5, 2), optimizer=opt2,
                           scheduler=sched2)
