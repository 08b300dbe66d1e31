"""The models: the registry, the study's built-in networks, VGG16 transfer, and plug-ins.

Importing any module of this package registers the built-in models, in the study's order
(mlp, cnn, cnn_bn, vgg16): the order `bench models`, the report and unknown-model messages use.
"""

from bench.models import builtin, vgg  # noqa: F401  (registration is the import's effect)
