"""CIFAR-10: loading, content verification, the study's split, and two input pipelines.

The pickles are read here rather than through torchvision's dataset class, because
torchvision checks file md5 sums and refuses copies whose pixels are identical but
whose pickles differ (an offline mirror without the ``filenames`` key, say). Content
is verified instead by the SHA-256 of the pixel arrays.

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

from .errors import BenchError

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


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="latin1")
    except FileNotFoundError:
        raise BenchError(f"CIFAR-10 file missing: {path}") from None
    except Exception as exc:  # truncated or garbage pickles raise many types
        raise BenchError(f"CIFAR-10 file {path} is corrupt or truncated ({type(exc).__name__})") from None


def _read_batches(folder: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for name in names:
        entry = _unpickle(folder / name)
        try:
            data = np.asarray(entry["data"], dtype=np.uint8)
            lab = np.asarray(entry.get("labels", entry.get("fine_labels")), dtype=np.int64)
            data = data.reshape(-1, 3, 32, 32)
        except (KeyError, TypeError, ValueError) as exc:
            raise BenchError(f"CIFAR-10 file {folder / name} has unexpected content ({exc})") from None
        if len(data) != len(lab):
            raise BenchError(f"CIFAR-10 file {folder / name}: {len(data)} images but {len(lab)} labels")
        images.append(data.transpose(0, 2, 3, 1))
        labels.append(lab)
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
    meta = _unpickle(folder / META_FILE)
    classes = list(meta.get("label_names", [])) if isinstance(meta, dict) else []
    if len(classes) != 10:
        raise BenchError(f"CIFAR-10 file {folder / META_FILE} does not list 10 class names")
    train_x, train_y = _read_batches(folder, TRAIN_FILES)
    test_x, test_y = _read_batches(folder, TEST_FILES)
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
