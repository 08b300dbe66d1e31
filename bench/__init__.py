"""bench: a reproducible benchmark report generator for CIFAR-10 classifiers."""

__version__ = "0.1.0"

# Bumped whenever the artifacts' layout or meaning changes; the report refuses
# directories written under another format instead of misreading them.
ARTIFACT_FORMAT = 2


def __getattr__(name):
    # `from bench import register_model` without importing torch for every `import bench`.
    if name == "register_model":
        from bench.models.registry import register_model

        return register_model
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
