"""bench: a reproducible benchmark report generator for CIFAR-10 classifiers."""

__version__ = "0.1.0"

# Bumped whenever the artifacts' layout or meaning changes; the report refuses
# directories written under another format instead of misreading them.
ARTIFACT_FORMAT = 2
