"""Export a run directory to experiment trackers: TensorBoard (`tensorboard.py`) and MLflow (`mlflow.py`).

Both exporters write one tracker run per model and seed (``<model>/seed-<n>``) holding the
per-epoch history (step = epoch), the test metrics, the configuration and the confusion matrix,
and mark it with an export record (`base.ExportRecord`): the run directory's identity and
fingerprint, the model, the seed, the seed's fingerprint and the export digest. `base.plan_exports`
decides from the records a tracker already holds which seeds are new, which changed (replaced) and
which are unchanged (skipped); exports of other run directories are never touched.

The trackers' libraries are optional extras (``pip install "bench[tensorboard]"`` and
``"bench[mlflow]"``), imported only inside the functions that write to them.
"""
