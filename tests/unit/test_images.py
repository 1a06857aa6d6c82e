"""data=folder and data=torchvision, with files made on the fly and torchvision's own dataset classes:
classes, labels, conversion and resizing as Pillow does them, the cache, and one line for each mistake."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from cifar_sweep.data import make_splits
from cifar_sweep.errors import UserError
from cifar_sweep.sources import describe, load_arrays

from helpers import compose_cfg, write_idx_dataset, write_image_folder


def folder_cfg(root, *extra):
    return compose_cfg(["data=folder", f"data.dir={root}", f"data.cache_dir={root / 'cache'}", *extra])


def test_a_folder_is_read_with_sorted_class_names_as_labels(tmp_path):
    write_image_folder(tmp_path / "images", classes=("dog", "cat", "eel"), per_class=(4, 2), size=(20, 30))
    cfg = folder_cfg(tmp_path / "images")
    (x, y), (x_test, y_test) = load_arrays(cfg.data)
    assert x.shape == (12, 20, 30, 3) and x.dtype == np.uint8 and x_test.shape == (6, 20, 30, 3)
    assert list(y) == [0] * 4 + [1] * 4 + [2] * 4 and list(y_test) == [0, 0, 1, 1, 2, 2]
    expected = np.asarray(Image.open(tmp_path / "images" / "train" / "cat" / "0.png").convert("RGB"))
    assert np.array_equal(x[0], expected)  # cat is label 0: the names sorted
    described = describe(cfg.data)
    assert described["classes"] == ["cat", "dog", "eel"] and described["num_classes"] == 3
    assert described["image_size"] == [20, 30] and described["channels"] == 3
    assert (cfg.data.num_classes, cfg.data.image_size, cfg.model.num_classes) == (3, [20, 30], 3)
    splits = make_splits(cfg.data, torch.device("cpu"))
    assert splits["train"].classes == ["cat", "dog", "eel"] and splits["train"].x.shape[1:] == (3, 20, 30)


def test_images_are_converted_and_resized_as_pillow_does(tmp_path):
    root = write_image_folder(tmp_path / "images", per_class=(2, 1), size=(20, 30))
    cfg = folder_cfg(root, "data.channels=1", "data.image_size=[10,12]", "data.interpolation=bicubic")
    (x, _), _ = load_arrays(cfg.data)
    source = Image.open(root / "train" / "cat" / "0.png")
    expected = np.asarray(source.convert("L").resize((12, 10), Image.Resampling.BICUBIC))
    assert x.shape == (6, 10, 12, 1) and np.array_equal(x[0, ..., 0], expected)


def test_val_stands_for_test_and_the_decoded_copy_is_used_again(tmp_path, caplog):
    root = write_image_folder(tmp_path / "images", per_class=(3, 2))
    (root / "test").rename(root / "val")
    cfg = folder_cfg(root)
    with caplog.at_level(logging.INFO, logger="cifar_sweep.images"):
        (x, y), (x_val, _) = load_arrays(cfg.data)
        first = [r.getMessage() for r in caplog.records if r.getMessage().startswith("decoded")]
        caplog.clear()
        (x2, y2), _ = load_arrays(cfg.data)
        again = [r.getMessage() for r in caplog.records if r.getMessage().startswith("decoded")]
    assert len(first) == 2 and again == []  # the second read decodes nothing
    assert isinstance(x2, np.memmap) and np.array_equal(x, x2) and np.array_equal(y, y2) and len(x_val) == 6


def test_unreadable_images_are_one_warning_naming_how_many_and_the_first(tmp_path, caplog):
    root = write_image_folder(tmp_path / "images", per_class=(3, 1))
    (root / "train" / "dog" / "broken.png").write_bytes(b"not an image")
    (root / "train" / "eel" / "empty.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        (x, _), _ = load_arrays(folder_cfg(root).data)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(x) == 9 and len(warnings) == 1
    assert warnings[0].startswith(f"2 of 11 images in {root / 'train'} cannot be read and are left out (the first: ")
    assert str(root / "train" / "dog" / "broken.png") in warnings[0]


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda r: (r / "test").rename(r / "other"), "no test/ or val/ folder there"),
        (lambda r: [p.write_bytes(b"x") for p in (r / "test").rglob("*.png")], "none of the 3 images in"),
        (lambda r: (r / "test" / "owl").mkdir(), "has class folders the train split lacks (owl)"),
        (lambda r: (r / "train" / "cat" / "0.png").write_bytes(b"") and None, None),  # one bad file: a warning
    ],
    ids=["no-test-split", "test-split-unreadable", "unknown-class", "one-bad-file"],
)
def test_a_broken_folder_is_one_line(tmp_path, make, expected):
    root = write_image_folder(tmp_path / "images", per_class=(2, 1))
    make(root)
    if expected is None:
        load_arrays(folder_cfg(root).data)
        return
    with pytest.raises(UserError) as err:
        load_arrays(folder_cfg(root).data)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_images_of_mixed_sizes_ask_for_image_size(tmp_path):
    root = write_image_folder(tmp_path / "images", per_class=(2, 1), size=(20, 30))
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "train" / "cat" / "small.png")
    with pytest.raises(UserError, match=r"have 2 sizes \(16x16, 20x30\); set data.image_size=N"):
        load_arrays(folder_cfg(root).data)
    (x, _), _ = load_arrays(folder_cfg(root, "data.image_size=24").data)
    assert x.shape[1:] == (24, 24, 3)


def test_a_torchvision_dataset_made_on_the_fly_is_read_from_its_own_arrays(tmp_path):
    root = write_idx_dataset(tmp_path, n=(60, 20), size=(28, 20))
    cfg = compose_cfg(["data=torchvision", f"data.dataset.root={root}", f"data.cache_dir={tmp_path / 'cache'}"])
    (x, y), (x_test, y_test) = load_arrays(cfg.data)
    assert x.shape == (60, 28, 20, 1) and len(x_test) == 20 and list(y[:12]) == [*range(10), 0, 1]
    assert (cfg.data.channels, cfg.data.image_size, cfg.data.num_classes) == (1, [28, 20], 10)
    assert describe(cfg.data)["classes"][:2] == ["T-shirt/top", "Trouser"]  # FashionMNIST's own names


def test_a_dataset_without_arrays_is_read_image_by_image(tmp_path):
    """torchvision's FakeData makes PIL images on the fly: read as any (image, label) dataset is."""
    cfg = compose_cfg(
        [
            "data=torchvision",
            "data.dataset._target_=torchvision.datasets.FakeData",
            "~data.dataset.root",
            "~data.dataset.download",
            "+data.dataset.size=30",
            "+data.dataset.image_size=[3,12,16]",
            "+data.dataset.num_classes=4",
            "~data.train.train",
            "~data.test.train",
            "+data.test.random_offset=1",
            "data.cache_dir=null",
        ]
    )
    (x, y), (x_test, _) = load_arrays(cfg.data)
    assert x.shape == (30, 12, 16, 3) and set(y) <= set(range(4)) and not np.array_equal(x, x_test)
    assert cfg.data.image_size == [12, 16] and cfg.data.channels == 3


def test_a_missing_dataset_is_one_line(tmp_path):
    cfg = compose_cfg(["data=torchvision", f"data.dataset.root={tmp_path}"])
    with pytest.raises(UserError) as err:
        load_arrays(cfg.data)
    assert str(err.value).startswith(
        "data.dataset: torchvision.datasets.FashionMNIST cannot be made for the train split"
    )
    assert "data.dataset.download (needs the internet)" in str(err.value) and "\n" not in str(err.value)


def test_a_dataset_target_that_is_not_a_dataset_is_refused_before_it_is_called(tmp_path):
    cfg = compose_cfg(["data=torchvision", "data.dataset._target_=os.system"])
    with pytest.raises(UserError, match="data.dataset._target_='os.system': is not a torch.utils.data.Dataset"):
        load_arrays(cfg.data)
