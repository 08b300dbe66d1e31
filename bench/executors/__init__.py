"""Where the model x seed jobs of a study run: in this process (`local`) or as Ray tasks (`ray`).

Both run the same training code (`bench.engine.train.fit`) behind one interface (bench.executors.base:
`Executor.run(jobs, spec, book)`); only the driver, holding the run directory's lock, writes the run
directory.
"""

from __future__ import annotations

from typing import Callable

from bench.config import CONNECT_TIMEOUT, ExecutorOptions
from bench.engine.train import Progress
from bench.executors.base import Executor


def make_executor(options: ExecutorOptions, *, progress: Progress | None = None,
                  log: Callable[[str], None] | None = None) -> Executor:
    """The executor `options.name` names, configured from `options` (the Ray fields only matter to Ray;
    `progress`, a per-batch display, only to the local executor: Ray tasks report per epoch)."""
    from bench.executors.local import LocalExecutor
    from bench.executors.ray import RayExecutor

    makers = {
        "local": lambda: LocalExecutor(progress=progress, log=log or (lambda msg: None)),
        "ray": lambda: RayExecutor(address=options.address, cpus_per_job=options.cpus_per_job,
                                   gpus_per_job=options.gpus_per_job, max_retries=options.max_retries,
                                   connect_timeout=options.connect_timeout or CONNECT_TIMEOUT),
    }
    return makers[options.name]()
