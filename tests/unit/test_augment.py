"""Batched augmentation: identity at zero strength, per-sample randomness, exact whole-pixel shifts,
and the same distribution as the study's own torchvision transforms."""

import collections

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from cifar_sweep.augment import affine_inverse, augment, draw, is_pixel_exact, one_warp, rotation_inverse, two_warps
from cifar_sweep.sources import synthetic_arrays

ZERO = dict(
    rotation=0.0,
    translate=0.0,
    whole_pixels=True,
    scale=0.0,
    shear=0.0,
    crop_padding=0,
    flip=0.0,
    interpolation="nearest",
)
# the study's: cifar_sweep/conf/regularization/weight_decay_augmentation.yaml
NOTEBOOK = dict(ZERO, rotation=15.0, translate=0.1, flip=0.5)


def aug(**kw):
    return OmegaConf.create({**ZERO, **kw})


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(n=64):
    return torch.rand(n, 3, 32, 32, generator=gen(123))


def shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """image moved by (dy, dx) whole pixels, zero fill."""
    out = torch.zeros_like(image)
    src = image[:, max(0, -dy) : 32 + min(0, -dy), max(0, -dx) : 32 + min(0, -dx)]
    out[:, max(0, dy) : 32 + min(0, dy), max(0, dx) : 32 + min(0, dx)] = src
    return out


def integer_shift_of(out: torch.Tensor, image: torch.Tensor, reach: int) -> tuple[int, int] | None:
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if torch.equal(out, shifted(image, dy, dx)):
                return dy, dx
    return None


def test_zero_strength_is_identity():
    x = images()
    assert torch.equal(augment(x, aug(), gen()), x)


def test_shape_dtype_and_range_kept():
    x = images()
    out = augment(x, aug(**{**NOTEBOOK, "scale": 0.1, "shear": 10, "crop_padding": 4}), gen())
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1


def test_flip_is_per_sample_at_the_given_rate():
    x = images(2000)
    out = augment(x, aug(flip=0.5), gen())
    flipped = torch.all(out == x.flip(3), dim=(1, 2, 3))
    kept = torch.all(out == x, dim=(1, 2, 3))
    assert torch.all(flipped | kept)
    assert 0.45 < flipped.float().mean() < 0.55


def test_each_image_gets_its_own_rotation():
    x = images(1).expand(16, -1, -1, -1).contiguous()
    out = augment(x, aug(rotation=30, interpolation="bilinear"), gen())  # nearest may map tiny angles alike
    distinct = {tuple(o.flatten().tolist()) for o in out}
    assert len(distinct) == 16


def test_same_generator_seed_same_result():
    x = images()
    a = aug(**NOTEBOOK)
    assert torch.equal(augment(x, a, gen(7)), augment(x, a, gen(7)))
    assert not torch.equal(augment(x, a, gen(7)), augment(x, a, gen(8)))


def test_translation_is_whole_pixels_distributed_as_torchvisions():
    """RandomAffine(0, translate=(0.1, 0.1)) on 32 px: each axis moves round(U(-3.2, 3.2)) pixels, so
    0, +-1, +-2 each with probability 1/6.4 and +-3 with 0.7/6.4; nothing else."""
    x = images(2000)
    out = augment(x, aug(translate=0.1), gen())
    counts = collections.Counter()
    for i in range(len(x)):
        shift = integer_shift_of(out[i], x[i], reach=3)
        assert shift is not None, f"image {i} is not a whole-pixel shift of at most 3 px"
        counts.update(shift)
    total = 2 * len(x)
    for d in range(-3, 4):
        expected = (0.7 if abs(d) == 3 else 1.0) / 6.4
        assert abs(counts[d] / total - expected) < 0.025, (d, counts[d] / total)


def test_continuous_translation_when_not_whole_pixels():
    x = images(32)
    out = augment(x, aug(translate=0.1, whole_pixels=False, interpolation="bilinear"), gen())
    assert sum(integer_shift_of(out[i], x[i], reach=3) is None for i in range(len(x))) > 28


def test_crop_padding_shifts_by_whole_pixels_with_zero_fill():
    x = images(256)
    out = augment(x, aug(crop_padding=4), gen())
    for i in range(len(x)):
        assert integer_shift_of(out[i], x[i], reach=4) is not None, f"image {i} is not an integer shift"


def test_nearest_rotation_only_moves_pixels():
    """Nearest interpolation (the study's) never blends: every output value is an input value or fill."""
    x = images(8)
    out = augment(x, aug(rotation=15), gen())
    for i in range(len(x)):
        assert set(out[i].flatten().tolist()) <= set(x[i].flatten().tolist()) | {0.0}


@pytest.mark.parametrize("extra", [{}, {"crop_padding": 2}, {"rotation": 0.0}, {"translate": 0.0}])
def test_one_grid_equals_the_two_warps_exactly(extra):
    """The study's settings take the single-grid path; it must give the two-warp result bit for bit."""
    a = aug(**{**NOTEBOOK, **extra})
    assert is_pixel_exact(a)
    x = images(256)
    d = draw(len(x), (32, 32), a, gen(3), "cpu")
    assert d.flip.any() and ((d.shift != 0).any() or a.translate == 0)
    assert torch.equal(one_warp(x, d), two_warps(x, d, a))


def test_warp_matrices_are_the_inverses_they_claim():
    angle = torch.tensor([15.0, -7.0])
    forward = rotation_inverse(-angle)
    assert torch.allclose(rotation_inverse(angle) @ forward, torch.eye(2).expand(2, 2, 2), atol=1e-6)
    scale, shear = torch.tensor([0.9, 1.1]), torch.tensor([10.0, -10.0])
    t = torch.tan(torch.deg2rad(shear))
    forward = torch.stack([torch.stack([scale, scale * t], 1), torch.stack([0 * scale, scale], 1)], 1)
    assert torch.allclose(affine_inverse(scale, shear) @ forward, torch.eye(2).expand(2, 2, 2), atol=1e-6)


def same_distribution(image: np.ndarray, theirs_transforms: list, ours_aug, seed: int, draws: int = 2048) -> None:
    """torchvision's transforms (PIL, one image at a time) and our batched augmentation, each drawn
    `draws` times on one (H, W, 3) image: per-pixel mean and spread agree within the sampling noise
    (measured by splitting torchvision's own draws in two), and so does the share of zero-filled pixels."""
    from PIL import Image
    from torchvision import transforms

    pipeline = transforms.Compose([*theirs_transforms, transforms.ToTensor()])
    torch.manual_seed(seed)
    theirs = torch.stack([pipeline(Image.fromarray(image)) for _ in range(draws)])
    batch = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div(255)
    ours = augment(batch.expand(draws, -1, -1, -1).contiguous(), ours_aug, gen(seed))
    assert ours.shape == theirs.shape
    half = draws // 2
    noise_mean = (theirs[:half].mean(0) - theirs[half:].mean(0)).abs().mean()
    noise_std = (theirs[:half].std(0) - theirs[half:].std(0)).abs().mean()
    assert (ours.mean(0) - theirs.mean(0)).abs().mean() < 1.5 * noise_mean
    assert (ours.std(0) - theirs.std(0)).abs().mean() < 1.5 * noise_std
    fill_ours, fill_theirs = (ours.amax(1) == 0).float().mean(), (theirs.amax(1) == 0).float().mean()
    assert abs(fill_ours - fill_theirs) < 0.01  # measured: 12.7 % both at 32x32


def notebook_transforms() -> list:
    from torchvision import transforms

    return [
        transforms.RandomRotation(15),
        transforms.RandomAffine(0, translate=(0.1, 0.1)),
        transforms.RandomHorizontalFlip(),
    ]


@pytest.mark.parametrize("seed", [5, 11])
def test_same_distribution_as_the_notebooks_torchvision_transforms(seed):
    """The notebook's exact pipeline (RandomRotation(15) -> RandomAffine(0, translate=(0.1, 0.1)) ->
    RandomHorizontalFlip(), PIL, nearest, zero fill) and ours on a 32x32 image."""
    same_distribution(synthetic_arrays(1, seed=seed)[0][0], notebook_transforms(), aug(**NOTEBOOK), seed)


@pytest.mark.parametrize("size", [(24, 40), (40, 24)], ids=["wide", "tall"])
def test_non_square_images_are_augmented_as_torchvision_does(size):
    """H != W: the notebook's pipeline (rotation in pixels about the centre, a shift of up to 0.1 of each
    axis, the flip) on the single-grid path, and zoom + shear on the two-warp path."""
    from torchvision import transforms

    image = synthetic_arrays(1, seed=7, size=size)[0][0]
    assert image.shape == (*size, 3)
    same_distribution(image, notebook_transforms(), aug(**NOTEBOOK), seed=7)
    zoom_shear = [transforms.RandomAffine(0, scale=(0.85, 1.15), shear=12)]
    same_distribution(image, zoom_shear, aug(scale=0.15, shear=12.0), seed=8)


def test_one_grid_equals_the_two_warps_on_non_square_images():
    a = aug(**NOTEBOOK)
    x = torch.rand(128, 3, 24, 40, generator=gen(123))
    d = draw(len(x), (24, 40), a, gen(3), "cpu")
    assert d.shift[:, 0].abs().max() > d.shift[:, 1].abs().max()  # up to 4 px along 40, 2 along 24
    assert torch.equal(one_warp(x, d), two_warps(x, d, a))
