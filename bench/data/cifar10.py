"""CIFAR-10 on disk: safe reading, validation, digests, and the facts dataset.json records.

The pickles are read here rather than through torchvision's dataset class, because
torchvision checks file md5 sums and refuses copies whose pixels are identical but
whose pickles differ (an offline mirror without the ``filenames`` key, say). Content
is verified instead by the SHA-256 of the pixel arrays. The pickles are read with a
restricted unpickler that can only rebuild containers and numpy arrays (never run
code), and their structure (keys, shapes, dtypes, label range, sizes, class names) is
checked always, also when the checksum is skipped.

The split and the input pipelines are in bench.data.pipelines.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.protocol import DATA

BASE_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"

# SHA-256 of the pixel arrays as N x 32 x 32 x 3 (HWC) uint8 in file order. They are
# the same for the original pickles and for mirrors that re-pickled the same pixels.
TRAIN_PIXELS_SHA256 = "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a"
TEST_PIXELS_SHA256 = "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04"

NUM_CLASSES = DATA.num_classes
IMAGES_PER_FILE = 10000  # every batch file of the real CIFAR-10: 5 x 10,000 train, 1 x 10,000 test

def default_data_dir() -> Path:
    env = os.environ.get("BENCH_DATA_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "bench" / "cifar10"


@dataclass
class Cifar10:
    """The raw dataset: uint8 NHWC images and int64 labels, in file order."""

    train_images: np.ndarray  # the 50,000 images of the five training files, N x 32 x 32 x 3 uint8
    train_labels: np.ndarray  # their labels, int64 in 0..9
    test_images: np.ndarray   # the 10,000 images of the test file
    test_labels: np.ndarray   # their labels
    classes: list[str]        # the 10 class names of batches.meta, in label order
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


def read_batches(folder: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The validated images and labels of the batch files `names` in `folder`, concatenated in that order."""
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
    train_x, train_y = read_batches(folder, TRAIN_FILES)
    test_x, test_y = read_batches(folder, TEST_FILES)
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


def describe(data: Cifar10, splits) -> dict:
    """Facts about the data and its `splits` (bench.data.pipelines.Splits), as saved in dataset.json and
    printed by `bench data`."""

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
        "split_seed": DATA.split_seed,
        "normalisation": {"mean": splits.mean, "std": splits.std},
        "checksums": data.checksums,
        "augmentation": DATA.augmentation(),
    }


def split_digests(splits) -> dict:
    """SHA-256 of each split's pixels and labels as used: the data's identity, checked or not against the
    published checksums."""
    out = {}
    for name in ("train", "val", "test"):
        images, labels = getattr(splits, name)
        digest = hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
        digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
        out[name] = digest.hexdigest()
    return out


def labels_sha256(labels: np.ndarray) -> str:
    """SHA-256 of int64 labels (dataset.json's test_labels_sha256: compare checks two runs share a test set)."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()


def describe_splits(data: Cifar10, splits) -> dict:
    """dataset.json: the data's description plus the digests that identify the splits actually used."""
    facts = describe(data, splits)
    facts["digests"] = split_digests(splits)
    facts["test_labels_sha256"] = labels_sha256(splits.test[1])
    return facts
