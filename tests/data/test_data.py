import os
import pathlib
import pickle
import pickletools
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import CLASSES, assert_one_line_error, tree_digest
from scipy import stats
from torchvision.transforms import functional as TF

from bench.data import cifar10 as data
from bench.data import pipelines
from bench.errors import BenchError


def test_split_matches_the_studys_random_split():
    torch.manual_seed(43)
    tr, va = torch.utils.data.random_split(range(50000), [45000, 5000])
    ours_tr, ours_va = pipelines.split_indices(50000)
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


def test_real_data_checksums(real_data_dir):
    d = data.load_cifar10(real_data_dir, download=False, verify=True)
    assert d.checksums["train"]["ok"] and d.checksums["test"]["ok"]
    assert d.train_labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert d.test_labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]


def test_channel_stats_and_splits(tiny_splits):
    x = tiny_splits.train[0].astype(np.float64) / 255
    assert np.allclose(tiny_splits.mean, x.mean(axis=(0, 1, 2)))
    assert np.allclose(tiny_splits.std, x.std(axis=(0, 1, 2)))


@pytest.mark.slow
def test_make_splits_limits_and_stats(cifar_root):
    d = data.load_cifar10(cifar_root, download=False, verify=False)
    s = pipelines.make_splits(d, limits=(2000, 500, 1000))
    assert len(s.train[1]) == 2000 and len(s.val[1]) == 500 and len(s.test[1]) == 1000
    full = pipelines.make_splits(d)
    assert len(full.train[1]) == 45000 and len(full.val[1]) == 5000
    assert np.array_equal(s.train[0], full.train[0][:2000])
    assert np.allclose(s.mean, pipelines.channel_stats(full.train[0][:2000])[0])


def test_fast_batches_equal_torchvision_without_augmentation(tiny_splits):
    images, labels = tiny_splits.train
    loader = pipelines.DeviceLoader(images, labels, mean=tiny_splits.mean, std=tiny_splits.std, batch_size=64,
                                    device=torch.device("cpu"))
    ref = pipelines.torchvision_transform(tiny_splits.mean, tiny_splits.std, augment=False)
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
    out = pipelines.crop_flip(torch.from_numpy(img), oy, ox, flip).permute(0, 3, 1, 2)
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
    loader = pipelines.DeviceLoader(np.zeros((n, 32, 32, 3), np.uint8), np.zeros(n), mean=[0, 0, 0],
                                    std=[1, 1, 1], batch_size=128, device=torch.device("cpu"), augment=True,
                                    shuffle=True, seed=7)
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
    a = pipelines.DeviceLoader(*tiny_splits.train, **kw)
    b = pipelines.DeviceLoader(*tiny_splits.train, **kw)
    a.set_epoch(2)
    b.set_epoch(2)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert len(a) == 8


def test_torchvision_loader_runs(tiny_splits):
    loader = pipelines.TorchvisionLoader(*tiny_splits.train, mean=tiny_splits.mean, std=tiny_splits.std,
                                         batch_size=100, device=torch.device("cpu"), augment=True, shuffle=True,
                                         num_workers=0)
    shapes = [x.shape for x, _ in loader]
    assert shapes[0] == (100, 3, 32, 32) and len(shapes) == 3


def test_unknown_pipeline():
    with pytest.raises(BenchError, match="choose one of: fast, torchvision"):
        pipelines.make_loader("dali", None, None)


# --- Trust: hostile and malformed data files ------------------------------------------------------------------------
#
# Each case copies the session's synthetic root cheaply (symlinks to the five untouched files) and
# rewrites one file. The CLI must refuse it with one line naming the file, run no code from it, and
# leave --artifacts as it was.

ALL_FILES = (data.META_FILE,) + data.TRAIN_FILES + data.TEST_FILES


class _System:
    """With plain pickle.load: os.system("touch TARGET")."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(self.target)}",)


class _Eval(_System):
    def __reduce__(self):
        return eval, (f"open({self.target!r}, 'w').close()",)


class _Exec(_System):
    def __reduce__(self):
        return exec, (f"import pathlib; pathlib.Path({self.target!r}).touch()",)


class _Open(_System):
    def __reduce__(self):
        return open, (self.target, "w")


class _Subprocess(_System):
    def __reduce__(self):
        return subprocess.call, (["touch", self.target],)


class _PathTouch(_System):
    """pathlib.Path.touch(Path(TARGET)): at protocol <= 3 pickle spells the method as getattr(pathlib.Path, "touch")."""

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.target),)


class _Import(_System):
    def __reduce__(self):
        return __import__, ("os",)


PAYLOADS = {  # name -> (class, pickle protocol, the global the refusal must name)
    "os.system": (_System, 2, "posix.system"),
    "eval": (_Eval, 2, "builtins.eval"),
    "exec": (_Exec, 4, "builtins.exec"),
    "open": (_Open, 2, "io.open"),  # builtins.open is io.open, and pickle names it so
    "subprocess": (_Subprocess, 5, "subprocess.call"),
    "getattr(Path, touch)": (_PathTouch, 2, "builtins.getattr"),
    "Path.touch": (_PathTouch, 5, "pathlib.Path.touch"),
    "__import__": (_Import, 2, "builtins.__import__"),
}


@pytest.mark.parametrize("name", [n for n in PAYLOADS if n != "__import__"])
def test_payloads_are_live_with_plain_pickle(tmp_path, name):
    # The refusals below mean something only if these payloads really do run under pickle.load.
    cls, protocol, _ = PAYLOADS[name]
    target = tmp_path / "pwned"
    pickle.loads(pickle.dumps({"x": cls(target)}, protocol=protocol))
    assert target.exists()


@pytest.fixture(scope="module")
def batch(cifar_root):
    """data_batch_1 of the synthetic root as plain Python (our own file, so plain pickle is fine)."""
    with open(cifar_root / data.BASE_FOLDER / "data_batch_1", "rb") as fh:
        return pickle.load(fh)


def make_root(cifar_root: Path, tmp_path: Path, name: str, content: bytes) -> Path:
    """A root whose file `name` holds `content`; the other five files are symlinks to the session root's."""
    root = tmp_path / "root"
    folder = root / data.BASE_FOLDER
    folder.mkdir(parents=True)
    for other in ALL_FILES:
        if other != name:
            os.symlink(cifar_root / data.BASE_FOLDER / other, folder / other)
    (folder / name).write_bytes(content)
    return root


def _batch(batch, **changes):
    entry = dict(batch, **changes)
    return pickle.dumps({k: v for k, v in entry.items() if v is not _DROP}, protocol=2)


_DROP = object()
META = {"label_names": CLASSES, "num_cases_per_batch": 10000, "num_vis": 3072}


def _meta(**changes):
    return pickle.dumps({k: v for k, v in dict(META, **changes).items() if v is not _DROP}, protocol=2)


def _labels(batch, index, value):
    labels = list(batch["labels"])
    labels[index] = value
    return labels


def _wide_data(batch, value):
    wide = batch["data"].astype(np.int16)
    wide[5, 17] = value
    return wide


# id -> (file to corrupt, builder(batch, target) -> bytes, regex the message must match, verify)
BAD_ROOTS = {
    **{f"payload {p}": ("data_batch_1" if i % 2 else "test_batch",
                        lambda b, t, p=p: pickle.dumps(dict(b, evil=PAYLOADS[p][0](t)), protocol=PAYLOADS[p][1]),
                        rf"is refused: it asks to load {re.escape(PAYLOADS[p][2])}, which a data file never needs",
                        i % 3 == 0)
       for i, p in enumerate(PAYLOADS)},
    "payload in batches.meta": (data.META_FILE, lambda b, t: _meta(evil=_System(t)),
                                r"is refused: it asks to load posix.system", False),
    "payload in place of data": ("data_batch_2", lambda b, t: _batch(b, data=_Open(t)),
                                 r"is refused: it asks to load io.open", False),
    "codecs other than latin1": ("data_batch_1",
                                 lambda b, t: pickle.dumps(dict(b, name=b"x"), protocol=2).replace(
                                     b"X\x06\x00\x00\x00latin1", b"X\x06\x00\x00\x00rot_13"),
                                 r"it asks for _codecs.encode with encoding rot_13", False),
    "test label 10": ("test_batch", lambda b, t: _batch(b, labels=_labels(b, 1234, 10)),
                      r"label 10 at index 1234 is outside 0-9", True),
    "train label -1": ("data_batch_2", lambda b, t: _batch(b, labels=_labels(b, 0, -1)),
                       r"label -1 at index 0 is outside 0-9", False),
    "huge label": ("data_batch_3", lambda b, t: _batch(b, labels=_labels(b, 9, 2**40)),
                   r"label 1099511627776 at index 9 is outside 0-9", False),
    "fewer labels than images": ("data_batch_4", lambda b, t: _batch(b, labels=b["labels"][:-1]),
                                 r"it has 10,000 images but 9,999 labels", True),
    "string labels": ("data_batch_5", lambda b, t: _batch(b, labels=[str(x) for x in b["labels"]]),
                      r"its 'labels' are not integers \(dtype <U1\)", False),
    "float labels": ("data_batch_5", lambda b, t: _batch(b, labels=[float(x) for x in b["labels"]]),
                     r"its 'labels' are not integers \(dtype float64\)", False),
    "nested labels": ("data_batch_1", lambda b, t: _batch(b, labels=[[x] for x in b["labels"]]),
                      r"its 'labels' has shape \(10000, 1\)", False),
    "labels not a list": ("data_batch_1", lambda b, t: _batch(b, labels={"a": 1}),
                          r"its 'labels' is a dict, not a list of integers", False),
    "float data": ("data_batch_3", lambda b, t: _batch(b, data=b["data"].astype(np.float32)),
                   r"its 'data' has dtype float32; CIFAR-10 pixels are uint8", False),
    "int16 data above 255": ("data_batch_4", lambda b, t: _batch(b, data=_wide_data(b, 256)),
                             r"its 'data' \(int16\) holds values from 0 to 256, outside the uint8 range", False),
    "int16 data below 0": ("test_batch", lambda b, t: _batch(b, data=_wide_data(b, -1)),
                           r"holds values from -1 to 2\d\d, outside the uint8 range", False),
    "rows of 3000": ("data_batch_2", lambda b, t: _batch(b, data=np.ascontiguousarray(b["data"][:, :3000])),
                     r"its 'data' has shape \(10000, 3000\); expected \(N, 3072\)", True),
    "1-D data": ("data_batch_2", lambda b, t: _batch(b, data=b["data"].reshape(-1)),
                 r"its 'data' has shape \(30720000,\); expected \(N, 3072\)", False),
    "data not an array": ("data_batch_1", lambda b, t: _batch(b, data="pixels"),
                          r"its 'data' is a str, not a numpy array", False),
    "no data key": ("data_batch_5", lambda b, t: _batch(b, data=_DROP), r"it has no 'data' entry", False),
    "no labels key": ("test_batch", lambda b, t: _batch(b, labels=_DROP), r"it has no 'labels' entry", False),
    "top level a list": ("data_batch_3", lambda b, t: pickle.dumps([b["data"], b["labels"]], protocol=2),
                         r"it holds a list, not the dict of a CIFAR-10 batch", False),
    "9,990 images": ("data_batch_4", lambda b, t: _batch(b, data=b["data"][:9990], labels=b["labels"][:9990]),
                     r"it holds 9,990 images; every CIFAR-10 batch file holds 10,000", False),
    "truncated": ("data_batch_3", lambda b, t: _batch(b)[:1000], r"is corrupt or truncated \(\w+\)", False),
    "garbage": ("test_batch", lambda b, t: b"not a pickle at all", r"is corrupt or truncated \(\w+\)", False),
    "empty": ("data_batch_1", lambda b, t: b"", r"is empty", True),
    "meta not a dict": (data.META_FILE, lambda b, t: pickle.dumps(CLASSES, protocol=2),
                        r"it holds a list, not the dict of batches.meta", False),
    "meta without label_names": (data.META_FILE, lambda b, t: _meta(label_names=_DROP),
                                 r"it has no 'label_names' entry", False),
    "meta with 9 names": (data.META_FILE, lambda b, t: _meta(label_names=CLASSES[:9]),
                          r"it lists 9 class names instead of 10", True),
    "meta with 11 names": (data.META_FILE, lambda b, t: _meta(label_names=CLASSES + ["extra"]),
                           r"it lists 11 class names instead of 10", False),
    "meta duplicate name": (data.META_FILE, lambda b, t: _meta(label_names=CLASSES[:9] + ["cat"]),
                            r"class name cat appears twice", False),
    "meta empty name": (data.META_FILE, lambda b, t: _meta(label_names=CLASSES[:4] + [" "] + CLASSES[5:]),
                        r"class name 4 is empty", False),
    "meta non-string name": (data.META_FILE, lambda b, t: _meta(label_names=CLASSES[:9] + [9]),
                             r"class name 9 is a int, not text", False),
    "meta label_names a string": (data.META_FILE, lambda b, t: _meta(label_names="airplane" * 10),
                                 r"its 'label_names' is a str, not a list of class names", False),
}


@pytest.mark.parametrize("case", list(BAD_ROOTS))
def test_bad_root_is_refused_by_bench_data(cifar_root, batch, tmp_path, case):
    from bench.cli import cli

    name, build, pattern, verify = BAD_ROOTS[case]
    target = tmp_path / "pwned"
    root = make_root(cifar_root, tmp_path, name, build(batch, target))
    out = tmp_path / "artifacts"
    if not case.startswith("payload"):  # an earlier, good `bench data` left files there: they must survive
        out.mkdir()
        (out / "dataset.json").write_text('{"earlier": true}\n')
    before = tree_digest(out)
    args = ["data", "--data-dir", str(root), "--no-download", "--artifacts", str(out)]
    result = CliRunner().invoke(cli, args + ([] if verify else ["--no-verify"]))
    line = assert_one_line_error(result)
    assert f"CIFAR-10 file {root / data.BASE_FOLDER / name} " in line
    assert re.search(pattern, line), line
    assert not target.exists(), "the payload ran"
    assert tree_digest(out) == before and out.exists() == bool(before)


def test_every_class_must_be_in_both_splits(cifar_root, batch, tmp_path):
    test = pickle.load(open(cifar_root / data.BASE_FOLDER / "test_batch", "rb"))
    labels = [4 if y == 3 else y for y in test["labels"]]
    root = make_root(cifar_root, tmp_path, "test_batch", _batch(test, labels=labels))
    with pytest.raises(BenchError,
                       match=r"CIFAR-10 test files in .* are refused: they hold no image of class 3 \(cat\)"):
        data.load_cifar10(root, download=False, verify=False)


def test_report_gallery_reader_refuses_a_payload(cifar_root, batch, tmp_path):
    # bench.render.report reads the test images through read_batches: the same restricted unpickler.
    from bench.render.report import load_test_images

    target = tmp_path / "pwned"
    root = make_root(cifar_root, tmp_path, "test_batch", _batch(batch, evil=_System(target)))
    images, note = load_test_images(root)
    assert images is None and "is refused: it asks to load posix.system" in note
    assert not target.exists()


@pytest.mark.parametrize("variant", ["protocol 2", "protocol 4", "protocol 5", "bytes keys", "labels as array",
                                     "int16 pixels", "numpy.core names"])
def test_repickled_batches_load_with_identical_pixels(cifar_root, batch, tmp_path, variant):
    entry, protocol = dict(batch), 2
    if variant.startswith("protocol"):
        protocol = int(variant.split()[1])
    elif variant == "bytes keys":  # as re-saved after pickle.load(..., encoding="bytes")
        entry = {k.encode(): v for k, v in entry.items()}
    elif variant == "labels as array":
        entry["labels"] = np.asarray(entry["labels"], dtype=np.int64)
    elif variant == "int16 pixels":
        entry["data"] = entry["data"].astype(np.int16)
    blob = pickle.dumps(entry, protocol=protocol)
    if variant == "numpy.core names":  # as numpy 1.x wrote them (and the original CIFAR-10 files)
        blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        assert b"numpy.core.multiarray" in blob
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(blob)
    images, labels = data.read_batches(folder, ("data_batch_1",))
    expected = batch["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    assert images.dtype == np.uint8 and np.array_equal(images, expected)
    assert labels.dtype == np.int64 and labels.tolist() == list(batch["labels"])


def test_real_data_loads_through_the_restricted_unpickler(real_data_dir):
    folder = real_data_dir / data.BASE_FOLDER
    # The original files are Python 2 pickles naming numpy.core.multiarray._reconstruct.
    blob = (folder / "data_batch_1").read_bytes()
    names = {arg for op, arg, _ in pickletools.genops(blob) if op.name == "GLOBAL"}
    assert "numpy.core.multiarray _reconstruct" in names
    entry = data._unpickle(folder / "data_batch_1")
    assert entry["data"].shape == (10000, 3072) and len(entry["labels"]) == 10000
    assert data.validate_meta(data._unpickle(folder / data.META_FILE), folder / data.META_FILE) == CLASSES
    d = data.load_cifar10(real_data_dir, download=False, verify=True)  # only ever through _unpickle
    assert d.checksums["train"]["ok"] and d.checksums["test"]["ok"]
    assert np.bincount(d.test_labels).tolist() == [1000] * 10
