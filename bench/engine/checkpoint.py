"""The one answer to "is this job finished?" and to "is this checkpoint consistent?".

`fit`, the runner's preflight and the Ray driver all ask these questions; each is answered
here only, so that they can never disagree about a job.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bench.errors import BenchError
from bench.rundir import layout as art
# A job whose metrics.json holds one of these is done: skipped, never retrained, unless forced.
from bench.rundir.checks import STATUSES

RESTART_HINT = "re-run with --force to start this model again"


def is_finished(folder: Path, fingerprint: str) -> bool:
    """Whether the job in `folder` finished (metrics.json present, status complete or diverged) with the
    configuration whose fingerprint is `fingerprint`."""
    path = Path(folder) / art.METRICS
    if not path.is_file():
        return False
    done = art.read_json(path)
    return done.get("fingerprint") == fingerprint and done.get("status") in STATUSES


def check_checkpoint(state, epochs: int, path: Path, *, fingerprint: str | None = None,
                     hint: str = RESTART_HINT) -> None:
    """Refuse a checkpoint that another configuration wrote (when `fingerprint` is given) or whose epoch and
    history disagree with each other or with a schedule of `epochs` epochs. `hint` ends the message."""
    if fingerprint is not None and (not isinstance(state, dict) or state.get("fingerprint") != fingerprint):
        raise BenchError(f"checkpoint {path} was written with a different configuration; {hint}")
    if not isinstance(state, dict):
        raise BenchError(f"checkpoint {path} is inconsistent (not a checkpoint dictionary); {hint}")
    epoch, history, seconds = state.get("epoch"), state.get("history"), state.get("train_seconds")
    if not (isinstance(epoch, int) and not isinstance(epoch, bool) and 0 < epoch <= epochs
            and isinstance(history, list) and len(history) == epoch):
        raise BenchError(f"checkpoint {path} is inconsistent (epoch {epoch!r} of {epochs}, "
                         f"{len(history) if isinstance(history, list) else '?'} history rows); {hint}")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        raise BenchError(f"checkpoint {path} is inconsistent (train_seconds {seconds!r}); {hint}")


def save(path: Path, *, fingerprint: str, history: list[dict], elapsed: float, model, optimizer, scheduler,
         device: str) -> None:
    """Write the state after `len(history)` epochs (atomically: see bench.rundir.layout.save_checkpoint)."""
    art.save_checkpoint(path, {
        "fingerprint": fingerprint, "epoch": len(history), "history": history,
        "train_seconds": elapsed, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        # Recorded for inspection only: every generator used in an epoch (batch order,
        # crops, flips, dropout) is re-derived from (seed, epoch) on resume; numpy's and
        # Python's global generators are not used during training.
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if device == "cuda" else []},
    })


def restore(path: Path, *, fingerprint: str, epochs: int, model, optimizer, scheduler) -> tuple[list[dict], int, float]:
    """Load the checkpoint at `path` into `model`, `optimizer` and `scheduler` after checking it;
    returns (history, epochs done, training seconds so far)."""
    state = art.load_checkpoint(path)
    check_checkpoint(state, epochs, path, fingerprint=fingerprint)
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise BenchError(f"checkpoint {path} is incomplete or inconsistent ({exc}); re-run with --force") from None
    return state["history"], state["epoch"], state["train_seconds"]
