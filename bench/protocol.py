"""The whole study protocol as data: how the data is split and augmented (`DataProtocol`), one
`TrainSpec` per model, the study's per-model settings, its reference numbers, and run profiles.

Changing the protocol means editing these tables, not the training or data code.
Every field ends up in each run's config.json or dataset.json. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from bench.errors import BenchError


@dataclass(frozen=True)
class DataProtocol:
    """How CIFAR-10 becomes the study's batches; bench.data reads these instead of constants of its own."""

    num_classes: int = 10         # CIFAR-10's classes: labels 0..9, and every model's number of outputs
    train_file_size: int = 50000  # images in CIFAR-10's five training files, before the validation split
    split_seed: int = 43          # the study's torch.manual_seed before random_split of the training files
    val_size: int = 5000          # validation images taken from the 50,000 training images
    test_size: int = 10000        # the test file, used only for the final evaluation
    crop_size: int = 32           # random crop side (CIFAR-10's own size: the crop only shifts the image)
    crop_padding: int = 4         # zero padding around each training image before the random crop
    flip_p: float = 0.5           # probability of a horizontal flip of a training image
    batch_size: int = 128         # training batch size (TrainSpec's default)
    pipeline: str = "fast"        # the input pipeline `bench all` uses by default (bench.config.Pipeline)

    @property
    def train_size(self) -> int:
        """Training images after the validation split (45,000 of CIFAR-10's 50,000)."""
        return self.train_file_size - self.val_size

    @property
    def sizes(self) -> dict[str, int]:
        """The study's split sizes, as the report compares a run's with them."""
        return {"train": self.train_size, "val": self.val_size, "test": self.test_size}

    def augmentation(self) -> dict:
        """The training augmentation as dataset.json records it."""
        return {"random_crop": self.crop_size, "padding": self.crop_padding, "hflip_p": self.flip_p}


# The study's data protocol (one instance: the protocol TOML file does not change it).
DATA = DataProtocol()


@dataclass(frozen=True)
class Phase:
    lr: float     # learning rate of the head (and of the whole model when there is no backbone)
    epochs: int   # epochs run at this rate before the next phase starts


@dataclass(frozen=True)
class TrainSpec:
    model: str                    # registry name (bench.models.registry)
    optimizer: str                # "sgd" or "adam"
    phases: tuple[Phase, ...]     # learning-rate phases, run back to back
    weight_decay: float = 5e-4    # L2 penalty added to the gradients, as in the study's fit()
    momentum: float = 0.0         # SGD only; the study used plain SGD
    batch_size: int = DATA.batch_size  # training batch size
    backbone_lr_scale: float = 1.0  # tuned pretrained layers train at lr x this
    augment: bool = True          # random crop (pad 4) + horizontal flip on training batches
    note: str = ""                # why this spec departs from the study, if it does

    @property
    def epochs(self) -> int:
        return sum(p.epochs for p in self.phases)

    def phase_of(self, epoch: int) -> int:
        """0-based phase index of 0-based `epoch`."""
        end = 0
        for i, p in enumerate(self.phases):
            end += p.epochs
            if epoch < end:
                return i
        raise ValueError(f"epoch {epoch} is beyond the last phase")

    def lr_at(self, epoch: int) -> float:
        return self.phases[self.phase_of(epoch)].lr

    def to_dict(self) -> dict:
        d = asdict(self)
        d["phases"] = [asdict(p) for p in self.phases]
        d["epochs"] = self.epochs
        return d


OPTIMIZERS = ("sgd", "adam")

# The reference study's published test results, for the report's comparison table, and how it trained each model,
# for the report's notes beside the full protocol (REFERENCE_SETUP_KEYS). An "lr" left out of a phase, or a
# "backbone_lr_scale" of "lower", is a rate the study set but did not publish. Recorded in each run's manifest
# (protocol.reference), outside every fingerprint: the words can be corrected without orphaning runs.
REFERENCE = {
    "mlp": {"accuracy": 0.513, "loss": 1.371, "optimizer": "sgd",
            "phases": [{"lr": 1e-1, "epochs": 10}, {"lr": 1e-2, "epochs": 10}, {"lr": 1e-3, "epochs": 10},
                       {"lr": 1e-4, "epochs": 10}]},
    "cnn": {"accuracy": 0.818, "loss": 0.528, "optimizer": "adam", "phases": [{"epochs": 10}]},
    "cnn_bn": {"accuracy": 0.812, "loss": 0.567, "optimizer": "adam", "phases": [{"epochs": 10}]},
    "vgg16": {"accuracy": 0.853, "loss": 0.449, "optimizer": "sgd", "phases": [{"epochs": 10}],
              "backbone_lr_scale": "lower"},
}
# Keys of a reference entry: its published results, then how it trained.
REFERENCE_RESULT_KEYS = ("accuracy", "loss")
REFERENCE_SETUP_KEYS = ("optimizer", "phases", "backbone_lr_scale")

# The study's builder settings per model, beyond each builder's signature: what `bench all` passes
# (and config.json records under compute.model_kwargs), and what the report measures departures from.
# Models without an entry take no settings. The keys' order is config.json's order.
MODEL_DEFAULTS: dict[str, dict] = {
    "vgg16": {"frozen_blocks": 3, "image_size": 32},
}


def study_kwargs(model: str) -> dict:
    """A copy of the study's builder settings of `model` ({} for a model with none)."""
    return dict(MODEL_DEFAULTS.get(model, {}))


STUDY: dict[str, TrainSpec] = {
    "mlp": TrainSpec(
        model="mlp", optimizer="sgd",
        phases=(Phase(1e-1, 10), Phase(1e-2, 10), Phase(1e-3, 10), Phase(1e-4, 10)),
    ),
    "cnn": TrainSpec(
        model="cnn", optimizer="adam", phases=(Phase(1e-3, 8), Phase(1e-4, 2)),
        note="the study kept Adam at one rate for 10 epochs; the last 2 epochs here run at a "
             "tenth of it, which settles the weights at no extra cost",
    ),
    "cnn_bn": TrainSpec(
        model="cnn_bn", optimizer="adam", phases=(Phase(1e-3, 8), Phase(1e-4, 2)),
        note="as for the CNN: the last 2 of the 10 epochs at a tenth of the rate",
    ),
    "vgg16": TrainSpec(
        model="vgg16", optimizer="adam", phases=(Phase(1e-3, 8), Phase(1e-4, 2)),
        backbone_lr_scale=0.1,
        note="tuned conv blocks at a tenth of the head's rate, so that the new head "
             "settles before it can disturb the pretrained filters",
    ),
}


@dataclass(frozen=True)
class Protocol:
    """The active protocol: a spec per model, the models `bench all` trains, and reference numbers."""

    specs: dict[str, TrainSpec]            # model -> spec; models without one get DEFAULT_SPEC's values
    study: tuple[str, ...]                 # the models of the study, in report order
    reference: dict[str, dict]             # model -> {"accuracy": ..., "loss": ...} for the comparison table
    source: dict = field(default_factory=lambda: {"kind": "built-in"})  # or {"kind": "file", "path", "sha256"}


# A plugged-in model with no [models.NAME] table trains as the study's CNN does.
DEFAULT_SPEC_MODEL = "cnn"

BUILTIN = Protocol(specs=dict(STUDY), study=tuple(STUDY), reference=dict(REFERENCE))


@dataclass(frozen=True)
class Profile:
    name: str                       # used for the default artifacts directory
    train_limit: int | None = None  # images kept from each split (None: all)
    val_limit: int | None = None
    test_limit: int | None = None
    epochs_per_phase: int | None = None  # overrides every phase's length (None: as specified)
    description: str = ""

    @property
    def limits(self) -> tuple[int | None, int | None, int | None]:
        return (self.train_limit, self.val_limit, self.test_limit)


PROFILES: dict[str, Profile] = {
    "full": Profile("full", description="the study's protocol on the full data"),
    "smoke": Profile("smoke", 2000, 500, 1000, epochs_per_phase=1,
                     description="2,000 train / 500 val / 1,000 test images, 1 epoch per phase"),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise BenchError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None


def spec_for(model: str, profile: Profile, *, protocol: Protocol = BUILTIN, **overrides) -> TrainSpec:
    """The spec `model` trains with under `protocol` and `profile`, with command-line `overrides`."""
    spec = protocol.specs.get(model)
    if spec is None:
        base = protocol.specs.get(DEFAULT_SPEC_MODEL, STUDY[DEFAULT_SPEC_MODEL])
        spec = replace(base, model=model, note=f"no protocol given for {model}: the {DEFAULT_SPEC_MODEL}'s")
    if profile.epochs_per_phase is not None:
        spec = replace(spec, phases=tuple(replace(p, epochs=profile.epochs_per_phase) for p in spec.phases))
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "epochs" in overrides:
        # Scale down (or up) by truncating/extending the last phase: keeps the schedule's shape for quick trials.
        spec = _with_epochs(spec, overrides.pop("epochs"))
    return replace(spec, **overrides) if overrides else spec


def _with_epochs(spec: TrainSpec, epochs: int) -> TrainSpec:
    if epochs < 1:
        raise BenchError(f"--epochs must be at least 1, got {epochs}")
    phases, left = [], epochs
    for p in spec.phases:
        take = min(p.epochs, left)
        if take:
            phases.append(replace(p, epochs=take))
        left -= take
    if left:
        phases[-1] = replace(phases[-1], epochs=phases[-1].epochs + left)
    return replace(spec, phases=tuple(phases))
