"""CIFAR-10: loading, content verification, the study's split, and two input pipelines.

The pickles are read here rather than through torchvision's dataset class, because
torchvision checks file md5 sums and refuses copies whose pixels are identical but
whose pickles differ (an offline mirror without the ``filenames`` key, say). Content
is verified instead by the SHA-256 of the pixel arrays. The pickles are read with a
restricted unpickler that can only rebuild containers and numpy arrays (never run
code), and their structure (keys, shapes, dtypes, label range, sizes, class names) is
checked always, also when the checksum is skipped.

Two input pipelines produce the same distribution of batches:

- ``DeviceLoader`` (default, "fast"): the whole split lives once as a uint8 tensor on
  the training device; each batch is cropped, flipped and normalised with batched
  tensor ops. All randomness of an epoch is drawn up front on the CPU from generators
  seeded by (seed, epoch), so CPU and CUDA runs see the same batches and a resumed run
  sees exactly what an uninterrupted one would have.
- ``torchvision_loader`` (reference): PIL transforms per image in a DataLoader, as the
  original study did.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.errors import BenchError

BASE_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"

# SHA-256 of the pixel arrays as N x 32 x 32 x 3 (HWC) uint8 in file order. They are
# the same for the original pickles and for mirrors that re-pickled the same pixels.
TRAIN_PIXELS_SHA256 = "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a"
TEST_PIXELS_SHA256 = "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04"

SPLIT_SEED = 43      # the study's torch.manual_seed before random_split
VAL_SIZE = 5000
NUM_CLASSES = 10
IMAGES_PER_FILE = 10000  # every batch file of the real CIFAR-10: 5 x 10,000 train, 1 x 10,000 test
CROP_PADDING = 4
FLIP_P = 0.5

# Streams of per-epoch randomness; distinct so that changing one never shifts another.
STREAM_ORDER, STREAM_CROP, STREAM_FLIP, STREAM_TORCH = range(4)


def default_data_dir() -> Path:
    env = os.environ.get("BENCH_DATA_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "bench" / "cifar10"


@dataclass
class Cifar10:
    """The raw dataset: uint8 NHWC images and int64 labels, in file order."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: list[str]
    checksums: dict  # split -> {"sha256": ..., "expected": ..., "ok": bool | None}


# What a CIFAR-10 pickle may ask the unpickler for: containers, and what numpy needs to
# rebuild an array (under numpy 1's `numpy.core` names and numpy 2's `numpy._core`, for
# pickle protocols 0-5). Everything else -- os.system, builtins.eval, getattr, ... -- is
# refused before it can be called, so reading a data file never runs code.
_BUILTIN_CONTAINERS = {"dict": dict, "list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for something outside the allow-list (the message says what)."""


def _latin1_encode(text, encoding="latin1", errors="strict"):
    # Protocol 0-2 pickles written by Python 3 store bytes as _codecs.encode(text, "latin1").
    # Only that use is allowed: codecs by name (rot13, zlib, ...) are no business of a data file.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise _RefusedGlobal(f"it asks for _codecs.encode with encoding {_printable(encoding)}, "
                             "which a data file never needs")
    return text.encode("latin1")


def _allowed_globals() -> dict[tuple[str, str], object]:
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy before 1.26 has only the numpy.core names
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                                              ("_codecs", "encode"): _latin1_encode}
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer
    for module in ("builtins", "__builtin__"):  # Python 3 and Python 2 names
        allowed.update({(module, name): obj for name, obj in _BUILTIN_CONTAINERS.items()})
    return allowed


def _printable(value, limit: int = 80) -> str:
    text = "".join(c if c.isprintable() and not c.isspace() else "?" for c in str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _DataUnpickler(pickle.Unpickler):
    """Unpickler for data files: `find_class` serves only the allow-list above and imports nothing."""

    _allowed = None

    def find_class(self, module, name):
        if _DataUnpickler._allowed is None:
            _DataUnpickler._allowed = _allowed_globals()
        obj = _DataUnpickler._allowed.get((module, name))
        if obj is None:
            shown = "builtins" if module == "__builtin__" else module  # Python 2 / protocol <= 2 spelling
            raise _RefusedGlobal(f"it asks to load {_printable(f'{shown}.{name}')}, which a data file never needs")
        return obj

    def persistent_load(self, pid):
        raise _RefusedGlobal("it holds a persistent reference, which a data file never needs")


def _unpickle(path: Path):
    """Read one CIFAR-10 pickle without running code (see `_DataUnpickler`); any failure is one line."""
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                raise BenchError(f"CIFAR-10 file {path} is empty")
            return _DataUnpickler(fh, encoding="latin1").load()
    except FileNotFoundError:
        raise BenchError(f"CIFAR-10 file missing: {path}") from None
    except BenchError:
        raise
    except _RefusedGlobal as exc:
        raise BenchError(f"CIFAR-10 file {path} is refused: {exc}") from None
    except OSError as exc:
        raise BenchError(f"CIFAR-10 file {path} could not be read ({exc.strerror or type(exc).__name__})") from None
    except Exception as exc:  # truncated or garbage pickles raise many types
        raise BenchError(f"CIFAR-10 file {path} is corrupt or truncated ({type(exc).__name__})") from None


def _str_keys(entry: dict) -> dict:
    # Python 2 pickles read with encoding="latin1" have str keys; ones re-saved after a
    # read with encoding="bytes" have bytes keys. Both are the same file.
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in entry.items()}


def _kind(value) -> str:
    return type(value).__name__


def validate_batch(entry, path: Path, *, images: int = IMAGES_PER_FILE) -> tuple[np.ndarray, np.ndarray]:
    """Check one unpickled batch file and return its (uint8 N x 32 x 32 x 3 images, int64 labels).

    Structural checks only (the pixel checksum is `load_cifar10`'s): a dict with `data`,
    an integer (N, 3072) array with values in 0..255, and `labels`, N integers in 0..9,
    with N == `images`. Anything else is a one-line BenchError naming the file.
    """
    def refuse(problem: str):
        raise BenchError(f"CIFAR-10 file {path} is refused: {problem}")

    if not isinstance(entry, dict):
        refuse(f"it holds a {_kind(entry)}, not the dict of a CIFAR-10 batch")
    entry = _str_keys(entry)
    if "data" not in entry:
        refuse("it has no 'data' entry")
    label_key = "labels" if "labels" in entry else "fine_labels" if "fine_labels" in entry else None
    if label_key is None:
        refuse("it has no 'labels' entry")
    data, labels = entry["data"], entry[label_key]

    if not isinstance(data, np.ndarray):
        refuse(f"its 'data' is a {_kind(data)}, not a numpy array")
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        refuse(f"its 'data' has shape {data.shape}; expected (N, 3072): one row of 3 x 32 x 32 pixels per image")
    if data.dtype.kind not in "ui":
        refuse(f"its 'data' has dtype {data.dtype}; CIFAR-10 pixels are uint8")
    if data.dtype != np.uint8 and data.size:
        lo, hi = int(data.min()), int(data.max())
        if lo < 0 or hi > 255:
            refuse(f"its 'data' ({data.dtype}) holds values from {lo} to {hi}, outside the uint8 range 0-255")

    if not isinstance(labels, (list, tuple, np.ndarray)):
        refuse(f"its '{label_key}' is a {_kind(labels)}, not a list of integers")
    try:
        lab = np.asarray(labels)
    except (TypeError, ValueError):
        refuse(f"its '{label_key}' is not a flat list of integers")
    if lab.ndim != 1:
        refuse(f"its '{label_key}' has shape {lab.shape}, not a flat list of integers")
    if len(lab) != len(data):
        refuse(f"it has {len(data):,} images but {len(lab):,} labels")
    if lab.size and lab.dtype.kind not in "ui":
        refuse(f"its '{label_key}' are not integers (dtype {lab.dtype})")
    outside = np.flatnonzero((lab < 0) | (lab >= NUM_CLASSES)) if lab.size else []
    if len(outside):
        i = int(outside[0])
        refuse(f"label {int(lab[i])} at index {i} is outside 0-{NUM_CLASSES - 1}")
    if images is not None and len(data) != images:
        refuse(f"it holds {len(data):,} images; every CIFAR-10 batch file holds {images:,}")

    pixels = data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return pixels, lab.astype(np.int64)


def validate_meta(meta, path: Path) -> list[str]:
    """Check unpickled `batches.meta` and return its 10 class names (one-line BenchError otherwise)."""
    def refuse(problem: str):
        raise BenchError(f"CIFAR-10 file {path} is refused: {problem}")

    if not isinstance(meta, dict):
        refuse(f"it holds a {_kind(meta)}, not the dict of batches.meta")
    meta = _str_keys(meta)
    if "label_names" not in meta:
        refuse("it has no 'label_names' entry")
    names = meta["label_names"]
    if not isinstance(names, (list, tuple)):
        refuse(f"its 'label_names' is a {_kind(names)}, not a list of class names")
    if len(names) != NUM_CLASSES:
        refuse(f"it lists {len(names)} class names instead of {NUM_CLASSES}")
    classes = []
    for i, name in enumerate(names):
        if isinstance(name, bytes):
            name = name.decode("latin1")
        if not isinstance(name, str):
            refuse(f"class name {i} is a {_kind(name)}, not text")
        if not name.strip():
            refuse(f"class name {i} is empty")
        if not name.isprintable():
            refuse(f"class name {i} ({_printable(name)}) holds control characters")
        if name in classes:
            refuse(f"class name {_printable(name)} appears twice")
        classes.append(name)
    return classes


def _read_batches(folder: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for name in names:
        x, y = validate_batch(_unpickle(folder / name), folder / name)
        images.append(x)
        labels.append(y)
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)


def pixels_sha256(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).tobytes()).hexdigest()


def _has_files(root: Path) -> bool:
    folder = root / BASE_FOLDER
    return all((folder / n).exists() for n in (META_FILE,) + TRAIN_FILES + TEST_FILES)


def _download(root: Path) -> None:
    import torchvision

    try:
        torchvision.datasets.CIFAR10(str(root), train=True, download=True)
    except Exception as exc:  # network errors come in many types
        raise BenchError(
            f"could not download CIFAR-10 into {root} ({type(exc).__name__}: {exc}); "
            f"put {BASE_FOLDER}/ there by hand or pass --data-dir"
        ) from None


def load_cifar10(root: Path, *, download: bool = True, verify: bool = True) -> Cifar10:
    """Load CIFAR-10 from `root`/cifar-10-batches-py, downloading it if allowed.

    With `verify`, a pixel checksum that differs from the published one is an error.
    """
    root = Path(root)
    if not _has_files(root):
        if not download:
            raise BenchError(
                f"CIFAR-10 not found in {root} (expected {root / BASE_FOLDER}/data_batch_1..5, "
                "test_batch, batches.meta); pass --data-dir, set BENCH_DATA_DIR, or allow --download"
            )
        _download(root)
    folder = root / BASE_FOLDER
    # Structural checks (validate_meta, validate_batch) run always; --no-verify skips only the checksum.
    classes = validate_meta(_unpickle(folder / META_FILE), folder / META_FILE)
    train_x, train_y = _read_batches(folder, TRAIN_FILES)
    test_x, test_y = _read_batches(folder, TEST_FILES)
    for split, labels in (("training", train_y), ("test", test_y)):
        absent = np.flatnonzero(np.bincount(labels, minlength=NUM_CLASSES) == 0)
        if len(absent):
            raise BenchError(f"CIFAR-10 {split} files in {folder} are refused: they hold no image of class "
                             f"{absent[0]} ({classes[absent[0]]}); the real data has every class in both splits")
    checksums = {}
    for split, images, expected in (
        ("train", train_x, TRAIN_PIXELS_SHA256),
        ("test", test_x, TEST_PIXELS_SHA256),
    ):
        digest = pixels_sha256(images) if verify else None
        ok = (digest == expected) if verify else None
        checksums[split] = {"sha256": digest, "expected": expected, "ok": ok}
        if verify and not ok:
            raise BenchError(
                f"CIFAR-10 {split} pixels in {folder} do not match the published checksum "
                f"(sha256 {digest[:16]}..., expected {expected[:16]}...); "
                "re-download the data or pass --no-verify to use it anyway"
            )
    return Cifar10(train_x, train_y, test_x, test_y, classes, checksums)


def split_indices(n: int, val_size: int = VAL_SIZE, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices, identical to the study's random_split after manual_seed(seed)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return perm[: n - val_size], perm[n - val_size:]


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) std of uint8 NHWC images scaled to [0, 1]."""
    x = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return x.mean(axis=0).tolist(), x.std(axis=0).tolist()


@dataclass
class Splits:
    """The study's three splits as uint8 NHWC arrays, plus the normalisation they imply."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    mean: list[float]
    std: list[float]


def make_splits(data: Cifar10, *, limits: tuple[int | None, int | None, int | None] = (None, None, None)) -> Splits:
    """Apply the study's split, then optional size limits (smoke runs).

    Limits take a prefix of each split; the train and validation orders are already
    random, and the test prefix is the same for every run, so runs stay comparable.
    Normalisation statistics come from the (limited) training images only.
    """
    tr_idx, va_idx = split_indices(len(data.train_images))
    tr_lim, va_lim, te_lim = limits
    tr_idx, va_idx = tr_idx[:tr_lim], va_idx[:va_lim]
    train = (data.train_images[tr_idx], data.train_labels[tr_idx])
    val = (data.train_images[va_idx], data.train_labels[va_idx])
    test = (data.test_images[:te_lim], data.test_labels[:te_lim])
    mean, std = channel_stats(train[0])
    return Splits(train, val, test, mean, std)


def epoch_generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    """A CPU generator that depends only on (seed, epoch, stream)."""
    state = np.random.SeedSequence([seed, epoch, stream]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def normalize(x_u8_nchw: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    # The same float32 ops, in the same order, as ToTensor() followed by Normalize(),
    # so that un-augmented batches are bit-identical to the torchvision pipeline's.
    return x_u8_nchw.float().div(255).sub(mean[:, None, None]).div(std[:, None, None])


def crop_flip(x_nhwc: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, flip: torch.Tensor,
              pad: int = CROP_PADDING) -> torch.Tensor:
    """Zero-pad by `pad`, crop at per-image offsets (oy, ox), flip where `flip`; NHWC in, NHWC out."""
    b, h, w, c = x_nhwc.shape
    wide = w + 2 * pad
    padded = F.pad(x_nhwc, (0, 0, pad, pad, pad, pad)).reshape(b, -1, c)
    rows = oy[:, None] + torch.arange(h, device=x_nhwc.device)
    cols = ox[:, None] + torch.arange(w, device=x_nhwc.device)
    # Flipping a crop equals cropping with mirrored column indices.
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    # One gather over flattened pixels: cheaper than three broadcast index tensors.
    pixel = (rows[:, :, None] * wide + cols[:, None, :]).reshape(b, -1, 1).expand(b, h * w, c)
    return torch.gather(padded, 1, pixel).reshape(b, h, w, c)


class DeviceLoader:
    """Batches from a split held once on `device`; see the module docstring.

    Iterating yields (images float32 NCHW, labels int64), both on `device`.
    Call `set_epoch` before each epoch so that order and augmentation depend on
    (seed, epoch) alone.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, *, mean, std, batch_size: int,
                 device: torch.device, augment: bool = False, shuffle: bool = False, seed: int = 0,
                 channels_last: bool = False):
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device)  # N,H,W,C uint8
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=device)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=device)
        self.batch_size = batch_size
        self.device = device
        self.augment = augment
        self.shuffle = shuffle
        self.seed = seed
        self.channels_last = channels_last
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _epoch_plan(self):
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, generator=epoch_generator(self.seed, self.epoch, STREAM_ORDER))
        else:
            order = torch.arange(n)
        plan = {"order": order}
        if self.augment:
            g_crop = epoch_generator(self.seed, self.epoch, STREAM_CROP)
            g_flip = epoch_generator(self.seed, self.epoch, STREAM_FLIP)
            plan["oy"] = torch.randint(0, 2 * CROP_PADDING + 1, (n,), generator=g_crop)
            plan["ox"] = torch.randint(0, 2 * CROP_PADDING + 1, (n,), generator=g_crop)
            plan["flip"] = torch.rand(n, generator=g_flip) < FLIP_P
        return {k: v.to(self.device, non_blocking=True) for k, v in plan.items()}

    def __iter__(self):
        plan = self._epoch_plan()
        n = len(self.labels)
        for start in range(0, n, self.batch_size):
            idx = plan["order"][start:start + self.batch_size]
            x = self.images[idx]
            if self.augment:
                sl = slice(start, start + self.batch_size)
                x = crop_flip(x, plan["oy"][sl], plan["ox"][sl], plan["flip"][sl])
            x = normalize(x.permute(0, 3, 1, 2), self.mean, self.std)
            # permute() of NHWC already has channels_last strides; contiguous() would undo it.
            x = x if self.channels_last else x.contiguous()
            yield x, self.labels[idx]


class _PILDataset(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def torchvision_transform(mean, std, *, augment: bool):
    from torchvision import transforms as T

    ops = [T.RandomCrop(32, padding=CROP_PADDING), T.RandomHorizontalFlip(FLIP_P)] if augment else []
    return T.Compose(ops + [T.ToTensor(), T.Normalize(mean, std)])


class TorchvisionLoader:
    """The study's pipeline: PIL transforms per image in a DataLoader (reference path)."""

    def __init__(self, images, labels, *, mean, std, batch_size: int, device: torch.device,
                 augment: bool = False, shuffle: bool = False, seed: int = 0, num_workers: int = 2,
                 channels_last: bool = False):
        self.dataset = _PILDataset(images, labels, torchvision_transform(mean, std, augment=augment))
        self.batch_size, self.device, self.shuffle = batch_size, device, shuffle
        self.seed, self.num_workers, self.channels_last = seed, num_workers, channels_last
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        # The generator drives both the shuffle and the workers' base seeds.
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=self.batch_size, shuffle=self.shuffle,
            num_workers=self.num_workers, pin_memory=self.device.type == "cuda",
            generator=epoch_generator(self.seed, self.epoch, STREAM_ORDER),
            persistent_workers=False,
        )
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for x, y in loader:
            yield (x.to(self.device, non_blocking=True, memory_format=fmt),
                   y.to(self.device, non_blocking=True))


PIPELINES = ("fast", "torchvision")


def make_loader(pipeline: str, images, labels, **kwargs):
    if pipeline == "fast":
        kwargs.pop("num_workers", None)
        return DeviceLoader(images, labels, **kwargs)
    if pipeline == "torchvision":
        return TorchvisionLoader(images, labels, **kwargs)
    raise BenchError(f"unknown input pipeline {pipeline!r}; choose one of: {', '.join(PIPELINES)}")


def describe(data: Cifar10, splits: Splits) -> dict:
    """Facts about the data, as saved in dataset.json and printed by `bench data`."""

    def counts(labels):
        return {c: int((labels == i).sum()) for i, c in enumerate(data.classes)}

    return {
        "classes": data.classes,
        "shapes": {
            "train_file": list(data.train_images.shape),
            "test_file": list(data.test_images.shape),
            "train": list(splits.train[0].shape),
            "val": list(splits.val[0].shape),
            "test": list(splits.test[0].shape),
        },
        "counts": {
            "train_file": counts(data.train_labels),
            "test_file": counts(data.test_labels),
            "train": counts(splits.train[1]),
            "val": counts(splits.val[1]),
            "test": counts(splits.test[1]),
        },
        "split_seed": SPLIT_SEED,
        "normalisation": {"mean": splits.mean, "std": splits.std},
        "checksums": data.checksums,
        "augmentation": {"random_crop": 32, "padding": CROP_PADDING, "hflip_p": FLIP_P},
    }
