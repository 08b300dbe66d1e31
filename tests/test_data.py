import numpy as np
import pytest
import torch
from scipy import stats
from torchvision.transforms import functional as TF

from bench import data
from bench.errors import BenchError


def test_split_matches_the_studys_random_split():
    torch.manual_seed(43)
    tr, va = torch.utils.data.random_split(range(50000), [45000, 5000])
    ours_tr, ours_va = data.split_indices(50000)
    assert list(ours_tr) == list(tr.indices)
    assert list(ours_va) == list(va.indices)


def test_load_synthetic_root(cifar_root):
    d = data.load_cifar10(cifar_root, download=False, verify=False)
    assert d.train_images.shape == (50000, 32, 32, 3) and d.train_images.dtype == np.uint8
    assert d.test_images.shape == (10000, 32, 32, 3)
    assert np.bincount(d.train_labels).tolist() == [5000] * 10
    assert d.classes[0] == "airplane"
    assert d.checksums["train"]["ok"] is None


def test_checksum_mismatch_is_a_clear_error(cifar_root):
    with pytest.raises(BenchError, match="do not match the published checksum"):
        data.load_cifar10(cifar_root, download=False, verify=True)


def test_missing_root_without_download(tmp_path):
    with pytest.raises(BenchError, match="CIFAR-10 not found in .*--data-dir"):
        data.load_cifar10(tmp_path, download=False)


def test_truncated_batch_file(cifar_root, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(cifar_root, root)
    f = root / data.BASE_FOLDER / "data_batch_3"
    f.write_bytes(f.read_bytes()[: 1000])
    with pytest.raises(BenchError, match="data_batch_3 is corrupt or truncated"):
        data.load_cifar10(root, download=False, verify=False)


def test_real_data_checksums(real_data_dir):
    d = data.load_cifar10(real_data_dir, download=False, verify=True)
    assert d.checksums["train"]["ok"] and d.checksums["test"]["ok"]
    assert d.train_labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert d.test_labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]


def test_channel_stats_and_splits(tiny_splits):
    x = tiny_splits.train[0].astype(np.float64) / 255
    assert np.allclose(tiny_splits.mean, x.mean(axis=(0, 1, 2)))
    assert np.allclose(tiny_splits.std, x.std(axis=(0, 1, 2)))


def test_make_splits_limits_and_stats(cifar_root):
    d = data.load_cifar10(cifar_root, download=False, verify=False)
    s = data.make_splits(d, limits=(2000, 500, 1000))
    assert len(s.train[1]) == 2000 and len(s.val[1]) == 500 and len(s.test[1]) == 1000
    full = data.make_splits(d)
    assert len(full.train[1]) == 45000 and len(full.val[1]) == 5000
    assert np.array_equal(s.train[0], full.train[0][:2000])
    assert np.allclose(s.mean, data.channel_stats(full.train[0][:2000])[0])


def test_fast_batches_equal_torchvision_without_augmentation(tiny_splits):
    images, labels = tiny_splits.train
    loader = data.DeviceLoader(images, labels, mean=tiny_splits.mean, std=tiny_splits.std, batch_size=64,
                               device=torch.device("cpu"))
    ref = data.torchvision_transform(tiny_splits.mean, tiny_splits.std, augment=False)
    from PIL import Image

    x, y = next(iter(loader))
    expected = torch.stack([ref(Image.fromarray(images[i])) for i in range(64)])
    assert torch.equal(x, expected)  # bit for bit
    assert torch.equal(y, torch.from_numpy(labels[:64]))


def test_crop_flip_equals_torchvision_functional():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    oy, ox = torch.tensor([0, 8, 3, 4, 7]), torch.tensor([8, 0, 5, 4, 1])
    flip = torch.tensor([False, True, True, False, True])
    out = data.crop_flip(torch.from_numpy(img), oy, ox, flip).permute(0, 3, 1, 2)
    for i in range(5):
        chw = torch.from_numpy(img[i]).permute(2, 0, 1)
        ref = TF.crop(TF.pad(chw, [4]), int(oy[i]), int(ox[i]), 32, 32)
        if flip[i]:
            ref = TF.hflip(ref)
        assert torch.equal(out[i], ref)


def test_augmentation_distribution_matches_torchvision():
    # The fast path draws crop offsets uniformly in 0..8 and flips with p=0.5, as
    # RandomCrop(32, padding=4) + RandomHorizontalFlip() do.
    n = 45000
    loader = data.DeviceLoader(np.zeros((n, 32, 32, 3), np.uint8), np.zeros(n), mean=[0, 0, 0], std=[1, 1, 1],
                               batch_size=128, device=torch.device("cpu"), augment=True, shuffle=True, seed=7)
    plan = loader._epoch_plan()
    for key in ("oy", "ox"):
        counts = np.bincount(plan[key].numpy(), minlength=9)
        assert len(counts) == 9
        assert stats.chisquare(counts).pvalue > 1e-3
    assert stats.binomtest(int(plan["flip"].sum()), n, 0.5).pvalue > 1e-3
    # Order is a permutation, and depends on the epoch.
    assert sorted(plan["order"].tolist()) == list(range(n))
    loader.set_epoch(1)
    assert not torch.equal(loader._epoch_plan()["order"], plan["order"])


def test_same_seed_and_epoch_give_same_batches(tiny_splits):
    kw = dict(mean=tiny_splits.mean, std=tiny_splits.std, batch_size=32, device=torch.device("cpu"),
              augment=True, shuffle=True, seed=3)
    a = data.DeviceLoader(*tiny_splits.train, **kw)
    b = data.DeviceLoader(*tiny_splits.train, **kw)
    a.set_epoch(2)
    b.set_epoch(2)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert len(a) == 8


def test_torchvision_loader_runs(tiny_splits):
    loader = data.TorchvisionLoader(*tiny_splits.train, mean=tiny_splits.mean, std=tiny_splits.std, batch_size=100,
                                    device=torch.device("cpu"), augment=True, shuffle=True, num_workers=0)
    shapes = [x.shape for x, _ in loader]
    assert shapes[0] == (100, 3, 32, 32) and len(shapes) == 3


def test_unknown_pipeline():
    with pytest.raises(BenchError, match="choose one of: fast, torchvision"):
        data.make_loader("dali", None, None)
