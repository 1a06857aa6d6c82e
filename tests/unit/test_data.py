"""The three sources, the stratified split and the on-device batches; bad files fail clearly."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from cifar_sweep.data import Split, make_splits, stratified_split
from cifar_sweep.errors import UserError
from cifar_sweep.sources import load_arrays, read_npz, synthetic_arrays

from helpers import compose_cfg

REAL = Path(os.environ.get("CIFAR10_DIR", "data/cifar10"))


def save_npz(folder, n_train=300, n_test=100, **override):
    x, y = synthetic_arrays(n_train, seed=1)
    xt, yt = synthetic_arrays(n_test, seed=2)
    np.savez(folder / "train.npz", x=override.get("x", x), y=override.get("y", y))
    np.savez(folder / "test.npz", x=xt, y=yt)


def test_stratified_split_keeps_class_proportions_and_is_seeded():
    y = np.repeat(np.arange(10), [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000])
    val, rest = stratified_split(y, 550, seed=0)
    assert len(val) == 550 and len(rest) == len(y) - 550 and not set(val) & set(rest)
    counts = np.bincount(y[val], minlength=10)
    assert np.abs(counts - np.arange(1, 11) * 10).max() <= 1
    assert np.array_equal(val, stratified_split(y, 550, seed=0)[0])
    assert not np.array_equal(val, stratified_split(y, 550, seed=1)[0])


def test_synthetic_data_is_class_conditional():
    x, y = synthetic_arrays(1000, seed=1)
    assert x.dtype == np.uint8 and x.shape == (1000, 32, 32, 3) and set(y) == set(range(10))
    means = np.stack([x[y == c].reshape(-1, 3).mean(0) for c in range(10)])
    spread = np.abs(means[:, None] - means[None]).max(-1)
    assert spread[~np.eye(10, dtype=bool)].min() > 5  # classes differ in colour


def test_npz_arrays_are_read_and_split_on_device(tmp_path):
    save_npz(tmp_path)
    cfg = compose_cfg([f"data.dir={tmp_path}", "data.val_size=50", "data.train_subset=100"])
    splits = make_splits(cfg.data, torch.device("cpu"))
    assert [len(splits[k]) for k in ("train", "val", "test")] == [100, 50, 100]
    assert splits["train"].x.dtype == torch.uint8 and splits["train"].x.shape[1:] == (3, 32, 32)
    assert splits["train"].y.dtype == torch.int64


def test_decoded_arrays_are_cached_and_memory_mapped(tmp_path):
    save_npz(tmp_path)
    cfg = compose_cfg([f"data.dir={tmp_path}", f"data.cache_dir={tmp_path / 'cache'}"])
    (x1, y1), _ = load_arrays(cfg.data)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 4  # x and y of train and test
    (x2, y2), _ = load_arrays(cfg.data)
    assert isinstance(x2, np.memmap) and np.array_equal(x1, x2) and np.array_equal(y1, y2)
    save_npz(tmp_path, n_train=200)  # a changed source gets a new entry, never stale data
    (x3, _), _ = load_arrays(cfg.data)
    assert len(x3) == 200


@pytest.mark.skipif(not (REAL / "test.npz").is_file(), reason="CIFAR10_DIR holds no test.npz")
def test_real_arrays_load_when_present():
    real = REAL
    x, y = read_npz(real / "test.npz")
    assert x.shape == (10000, 32, 32, 3) and np.bincount(y).tolist() == [1000] * 10


def test_batches_cover_the_split_once_in_random_order():
    split = Split(torch.zeros(10, 3, 32, 32, dtype=torch.uint8), torch.arange(10))
    seen = torch.cat([y for _, y in split.batches(3, torch.Generator().manual_seed(0))])
    assert len(seen) == 9 and len(set(seen.tolist())) == 9  # no repeats; trailing batch of one dropped
    assert seen.tolist() != sorted(seen.tolist())
    assert torch.cat([y for _, y in split.batches(4)]).tolist() == list(range(10))


# fault -> (how to make it, what the one line says after "data.dir: <dir>/train.npz")
BAD_FILES = {
    "truncated": (
        lambda d: (d / "train.npz").write_bytes((d / "train.npz").read_bytes()[:1000]),
        " is not a readable .npz file (",
    ),
    "not_npz": (lambda d: (d / "train.npz").write_text("hello"), " is not a readable .npz file ("),
    "wrong_shape": (
        lambda d: save_npz(d, x=np.zeros((300, 28, 28, 3), np.uint8)),
        ": x has dtype uint8 and shape (300, 28, 28, 3); expected uint8 images of shape (N, 32, 32, 3)",
    ),
    "wrong_dtype": (
        lambda d: save_npz(d, x=np.zeros((300, 32, 32, 3), np.float32)),
        ": x has dtype float32 and shape (300, 32, 32, 3); expected uint8 images of shape (N, 32, 32, 3)",
    ),
    "labels_out_of_range": (lambda d: save_npz(d, y=np.full(300, 12)), ": labels span [12, 12]; expected 0..9"),
    "label_count_mismatch": (
        lambda d: save_npz(d, y=np.zeros(10, np.int64)),
        ": y has dtype int64 and shape (10,); expected 300 integer labels",
    ),
}


@pytest.mark.parametrize("fault", BAD_FILES)
def test_bad_npz_is_one_clear_user_error(tmp_path, fault):
    save_npz(tmp_path)
    make, expected = BAD_FILES[fault]
    make(tmp_path)
    cfg = compose_cfg([f"data.dir={tmp_path}"])
    with pytest.raises(UserError) as err:
        load_arrays(cfg.data)
    assert str(err.value).startswith(f"data.dir: {tmp_path / 'train.npz'}{expected}") and "\n" not in str(err.value)


def test_missing_dir_without_download_says_how_to_fix(tmp_path):
    cfg = compose_cfg([f"data.dir={tmp_path / 'nope'}"])
    with pytest.raises(UserError, match="data.download=true"):
        load_arrays(cfg.data)


def test_a_download_without_network_is_one_line(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)  # what torchvision's download calls
    cfg = compose_cfg([f"data.dir={tmp_path / 'new'}", "data.download=true"])
    with pytest.raises(UserError) as err:
        load_arrays(cfg.data)
    assert str(err.value) == (
        f"data.download=true: cifar-10-batches-py could not be downloaded into data.dir='{tmp_path / 'new'}' "
        "(URLError: <urlopen error [Errno -2] Name or service not known>); "
        "check the network, or put the files there yourself"
    )


def test_corrupt_official_batches_are_refused_before_unpickling(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
        "batches.meta",
    ]:
        (folder / name).write_bytes(b"not the real file")
    cfg = compose_cfg([f"data.dir={tmp_path}"])
    with pytest.raises(UserError, match="missing or corrupt"):
        load_arrays(cfg.data)


def test_val_size_zero_trains_on_every_image_and_validates_on_the_test_set(tmp_path):
    save_npz(tmp_path)
    cfg = compose_cfg([f"data.dir={tmp_path}", "data.val_size=0", "data.train_subset=120"])
    splits = make_splits(cfg.data, torch.device("cpu"))
    assert splits["val"] is splits["test"] and len(splits["test"]) == 100
    assert len(splits["train"]) == 120  # the subset is drawn from all 300 training images
    assert (
        len(make_splits(compose_cfg([f"data.dir={tmp_path}", "data.val_size=0"]).data, torch.device("cpu"))["train"])
        == 300
    )


def test_inputs_scale_and_normalise_like_totensor_and_normalize():
    from cifar_sweep.data import Inputs

    cfg = compose_cfg(["data.normalize.mean=[0.1,0.2,0.3]", "data.normalize.std=[0.5,0.25,2.0]"])
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    out = Inputs(cfg.augment, cfg.data.normalize, torch.device("cpu"), channels_last=False)(x)
    mean, std = torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1), torch.tensor([0.5, 0.25, 2.0]).view(1, 3, 1, 1)
    assert torch.allclose(out, (x.float() / 255 - mean) / std, atol=1e-6)


def test_auto_evaluates_channels_last_on_the_cpu_and_trains_contiguous_in_batches_of_256():
    """trainer.channels_last=auto and data.eval_batch_size=auto on the CPU: the model and a training batch
    stay contiguous, an evaluation batch is channels_last; evaluation batches of 256 (1024 on CUDA);
    true / false / N are taken as they are."""
    from cifar_sweep.data import Inputs
    from cifar_sweep.state import channels_last_use, eval_batch_size

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert channels_last_use("auto", cpu) == (False, True) and channels_last_use("auto", cuda) == (True, True)
    assert channels_last_use(False, cpu) == (False, False) and channels_last_use(True, cpu) == (True, True)
    assert (eval_batch_size("auto", cpu), eval_batch_size("auto", cuda), eval_batch_size(64, cpu)) == (256, 1024, 64)
    cfg = compose_cfg([])
    inputs = Inputs(cfg.augment, cfg.data.normalize, cpu, False, eval_channels_last=True)
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    trained, evaluated = inputs(x, torch.Generator().manual_seed(0)), inputs(x)
    assert trained.is_contiguous() and not trained.is_contiguous(memory_format=torch.channels_last)
    assert evaluated.is_contiguous(memory_format=torch.channels_last) and not evaluated.is_contiguous()


def write_official_cifar100(root, n: int = 50):
    """cifar-100-python/ as the official archive lays it out (pickled dicts, fine and coarse labels);
    returns the md5 of each file, for a CIFAR100 that checks these files instead of the real ones."""
    import hashlib
    import pickle

    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    md5 = {}
    for name in ("train", "test"):
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        batch = {"data": x.reshape(n, -1), "fine_labels": list(np.arange(n) % 100), "coarse_labels": [0] * n}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(100)]}))
    for name in ("train", "test", "meta"):
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    return md5


def test_cifar100_in_the_official_layout_reads_its_fine_labels(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR100

    md5 = write_official_cifar100(tmp_path)
    monkeypatch.setattr(CIFAR100, "train_list", [["train", md5["train"]]])
    monkeypatch.setattr(CIFAR100, "test_list", [["test", md5["test"]]])
    monkeypatch.setattr(CIFAR100, "meta", {**CIFAR100.meta, "md5": md5["meta"]})
    cfg = compose_cfg(["data=cifar100", f"data.dir={tmp_path}"])
    (x, y), (x_test, y_test) = load_arrays(cfg.data)
    assert x.shape == (50, 32, 32, 3) and x.dtype == np.uint8 and list(y[:5]) == [0, 1, 2, 3, 4]
    assert y.max() == 49 and len(y_test) == 50


def test_cifar100_files_that_are_not_the_official_ones_are_refused(tmp_path):
    write_official_cifar100(tmp_path)  # the real md5 sums do not match these files
    cfg = compose_cfg(["data=cifar100", f"data.dir={tmp_path}"])
    with pytest.raises(UserError, match="cifar-100-python is missing or corrupt"):
        load_arrays(cfg.data)


@pytest.mark.parametrize("damage", ["truncated_images", "relabelled"])
def test_a_damaged_cache_entry_is_rebuilt_with_one_warning(tmp_path, damage, caplog):
    save_npz(tmp_path)
    cfg = compose_cfg([f"data.dir={tmp_path}", f"data.cache_dir={tmp_path / 'cache'}"])
    (x, y), _ = load_arrays(cfg.data)  # writes the cache
    x, y = np.array(x), np.array(y)
    entry = next(p for p in (tmp_path / "cache").glob("*.x.npy") if np.load(p, mmap_mode="r").shape == x.shape)
    if damage == "truncated_images":
        entry.write_bytes(entry.read_bytes()[:5000])
    else:
        labels = entry.with_name(entry.name.replace(".x.", ".y."))
        np.save(labels, (y + 3) % 10)  # in range, but not the source's labels
    with caplog.at_level("WARNING"):
        (x2, y2), _ = load_arrays(cfg.data)
    assert np.array_equal(x2, x) and np.array_equal(y2, y)  # the source's arrays, not the damaged copy
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "is damaged" in warnings[0] and "rebuilding it from" in warnings[0]
    (x3, y3), _ = load_arrays(cfg.data)  # the rebuilt entry is used again
    assert np.array_equal(y3, y) and isinstance(x3, np.memmap)


def test_sizes_that_leave_nothing_to_train_on_name_the_key(tmp_path):
    save_npz(tmp_path)
    with pytest.raises(UserError, match=r"^data.train_subset=1: leaves 1 training image\(s\); a run needs at least 2"):
        make_splits(
            compose_cfg([f"data.dir={tmp_path}", "data.val_size=0", "data.train_subset=1"]).data, torch.device("cpu")
        )
    np.savez(tmp_path / "train.npz", x=np.zeros((0, 32, 32, 3), np.uint8), y=np.zeros(0, np.int64))
    with pytest.raises(UserError, match="its train split holds no images"):
        make_splits(compose_cfg([f"data.dir={tmp_path}", "data.cache_dir=null"]).data, torch.device("cpu"))


def test_a_training_split_without_some_classes_is_one_warning(tmp_path, caplog):
    save_npz(tmp_path, y=np.zeros(300, np.int64))  # every training image is class 0
    cfg = compose_cfg([f"data.dir={tmp_path}", "data.val_size=0", "data.cache_dir=null"])
    with caplog.at_level("WARNING"):
        make_splits(cfg.data, torch.device("cpu"))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "the training split holds 1 of data.num_classes=10 classes (missing: 1, 2, 3, 4, 5, 6, 7, "
        "8, 9); the model cannot learn the missing ones"
    ]
