"""The study's split, its normalisation, and the two input pipelines that turn a split into batches.

Both pipelines produce the same distribution of batches and share one base (`Loader`):

- ``DeviceLoader`` (default, "fast"): the whole split lives once as a uint8 tensor on
  the training device; each batch is cropped, flipped and normalised with batched
  tensor ops. All randomness of an epoch is drawn up front on the CPU from generators
  seeded by (seed, epoch), so CPU and CUDA runs see the same batches and a resumed run
  sees exactly what an uninterrupted one would have.
- ``TorchvisionLoader`` (reference): PIL transforms per image in a DataLoader, as the
  original study did.

The split sizes, seed and augmentation come from `bench.protocol.DATA`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bench.config import Pipeline
from bench.data.cifar10 import Cifar10
from bench.protocol import DATA

# Streams of per-epoch randomness; distinct so that changing one never shifts another.
STREAM_ORDER, STREAM_CROP, STREAM_FLIP, STREAM_TORCH = range(4)


def split_indices(n: int, val_size: int = DATA.val_size,
                  seed: int = DATA.split_seed) -> tuple[np.ndarray, np.ndarray]:
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

    train: tuple[np.ndarray, np.ndarray]  # (images N x 32 x 32 x 3 uint8, labels int64) the models train on
    val: tuple[np.ndarray, np.ndarray]    # the validation images held out of the training files
    test: tuple[np.ndarray, np.ndarray]   # the test file (or its prefix), for the final evaluation only
    mean: list[float]                     # per-channel mean of the training images in [0, 1]
    std: list[float]                      # per-channel (population) std of the training images


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
              pad: int = DATA.crop_padding) -> torch.Tensor:
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


class Loader:
    """What both pipelines share: batch size, device, augmentation, order, and the epoch that seeds them.

    Iterating yields (images float32 NCHW, labels int64), both on `device`. Call `set_epoch`
    before each epoch so that order and augmentation depend on (seed, epoch) alone.
    """

    def __init__(self, size: int, *, batch_size: int, device: torch.device, augment: bool = False,
                 shuffle: bool = False, seed: int = 0, channels_last: bool = False):
        self.size = size                    # images in the split
        self.batch_size = batch_size        # images per batch; the last batch may be smaller
        self.device = device                # where batches are delivered
        self.augment = augment              # random crop and flip (bench.protocol.DATA), for training batches
        self.shuffle = shuffle              # a new order every epoch (else file order)
        self.seed = seed                    # with the epoch, the only source of the loader's randomness
        self.channels_last = channels_last  # deliver NHWC-strided batches (conv nets)
        self.epoch = 0                      # set by set_epoch before each epoch

    def __len__(self) -> int:
        return -(-self.size // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class DeviceLoader(Loader):
    """Batches from a split held once on `device`; see the module docstring."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, *, mean, std, batch_size: int,
                 device: torch.device, augment: bool = False, shuffle: bool = False, seed: int = 0,
                 channels_last: bool = False):
        super().__init__(len(labels), batch_size=batch_size, device=device, augment=augment, shuffle=shuffle,
                         seed=seed, channels_last=channels_last)
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device)  # N,H,W,C uint8
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=device)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=device)

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
            plan["oy"] = torch.randint(0, 2 * DATA.crop_padding + 1, (n,), generator=g_crop)
            plan["ox"] = torch.randint(0, 2 * DATA.crop_padding + 1, (n,), generator=g_crop)
            plan["flip"] = torch.rand(n, generator=g_flip) < DATA.flip_p
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


class PILDataset(torch.utils.data.Dataset):
    """uint8 HWC images as PIL images through `transform`, for the torchvision pipeline."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def torchvision_transform(mean, std, *, augment: bool):
    from torchvision import transforms as T

    ops = [T.RandomCrop(DATA.crop_size, padding=DATA.crop_padding), T.RandomHorizontalFlip(DATA.flip_p)] \
        if augment else []
    return T.Compose(ops + [T.ToTensor(), T.Normalize(mean, std)])


class TorchvisionLoader(Loader):
    """The study's pipeline: PIL transforms per image in a DataLoader (reference path)."""

    def __init__(self, images, labels, *, mean, std, batch_size: int, device: torch.device,
                 augment: bool = False, shuffle: bool = False, seed: int = 0, num_workers: int = 2,
                 channels_last: bool = False):
        super().__init__(len(labels), batch_size=batch_size, device=device, augment=augment, shuffle=shuffle,
                         seed=seed, channels_last=channels_last)
        self.dataset = PILDataset(images, labels, torchvision_transform(mean, std, augment=augment))
        self.num_workers = num_workers  # DataLoader worker processes

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


def make_loader(pipeline: str, images, labels, **kwargs) -> Loader:
    """The loader of `pipeline` (bench.config.Pipeline); `num_workers` matters only to the torchvision one."""
    if Pipeline.parse(pipeline) == Pipeline.FAST:
        kwargs.pop("num_workers", None)
        return DeviceLoader(images, labels, **kwargs)
    return TorchvisionLoader(images, labels, **kwargs)
