"""Where the model x seed jobs of a study run: in this process (`local`) or as Ray tasks (`ray`).

Both run the same training code (`bench.engine.train.fit`) and report to the driver through one
`Recorder`; only the driver, holding the run directory's lock, writes the run directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Job:
    model: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.model}/seed-{self.seed}"


@dataclass
class Recorder:
    """Driver-side callbacks: each job's events go to the manifest and the log."""

    started: Callable[..., None]          # (job, epoch, where=None)
    finished: Callable[..., None]         # (job, metrics, wall_seconds, where=None)
    failed: Callable[..., None]           # (job, error, where=None)
    stopped: Callable[..., None]          # (job, wall_seconds, resumed): interrupted; its time so far is kept
    log: Callable[[str], None] = print
    counts: dict = field(default_factory=lambda: {"finished": 0, "failed": 0, "skipped": 0})
