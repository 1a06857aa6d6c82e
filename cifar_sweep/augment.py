"""Batched, per-sample data augmentation on the training device, with torchvision's semantics.

The study's notebook ran, one PIL image at a time:

    RandomRotation(15)                          nearest, zero fill
    RandomAffine(0, translate=(0.1, 0.1))       whole-pixel shift of up to round(0.1 * 32) = 3 px, zero fill
    RandomHorizontalFlip()                      p = 0.5

Here one call does the same to a whole batch, each image drawing its own parameters, in the same
order: a rotation warp (`grid_sample`), then an affine warp (translation, and our optional zoom,
shear and crop shift), then the flip. Each warp is skipped when its strengths are zero, so all
zeros give the input back unchanged. `interpolation` is torchvision's: nearest (its default, the
study's) or bilinear; `whole_pixels` rounds translations to whole pixels, as RandomAffine does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

INTERPOLATIONS = ("nearest", "bilinear")


def _uniform(n: int, half_width: float, generator: torch.Generator, device) -> torch.Tensor:
    """n samples from U(-half_width, half_width)."""
    return (torch.rand(n, generator=generator, device=device) * 2 - 1) * half_width


def _warp(images: torch.Tensor, inverse: torch.Tensor, shift: torch.Tensor, mode: str) -> torch.Tensor:
    """Apply x -> A x + shift about the image centre, given A's inverse (n, 2, 2) and the shift in
    pixels (n, 2); outside the image is zero. Output pixel p samples input pixel A^-1 (p - shift)."""
    size = images.shape[-1]
    offset = -(inverse @ (shift * (2.0 / size)).unsqueeze(2))  # pixels -> normalised units (2 per image)
    grid = F.affine_grid(torch.cat([inverse, offset], dim=2), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)


def rotation_inverse(angle_deg: torch.Tensor) -> torch.Tensor:
    """(n, 2, 2) inverse of a rotation by angle_deg degrees."""
    angle = torch.deg2rad(angle_deg)
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)


def affine_inverse(scale: torch.Tensor, shear_deg: torch.Tensor) -> torch.Tensor:
    """(n, 2, 2) inverse of A = scale * Shear_x(shear_deg)."""
    shear = torch.tan(torch.deg2rad(shear_deg))
    zero, one = torch.zeros_like(scale), torch.ones_like(scale)
    # A = scale * [[1, shear], [0, 1]]  ->  A^-1 = [[1, -shear], [0, 1]] / scale
    return torch.stack([torch.stack([one, -shear], 1), torch.stack([zero, one], 1)], 1) / scale[:, None, None]


def random_shift(n: int, size: int, aug, generator: torch.Generator, device) -> torch.Tensor:
    """(n, 2) translations in pixels: U(-translate * size, translate * size) per axis, rounded to
    whole pixels when aug.whole_pixels (torchvision: round(U(-3.2, 3.2)) for 0.1 of 32 px), plus
    an integer crop shift in [-crop_padding, crop_padding]."""
    shift = _uniform(2 * n, aug.translate * size, generator, device).view(n, 2)
    if aug.whole_pixels:
        shift = shift.round()
    if aug.crop_padding > 0:
        shift = shift + torch.randint(-aug.crop_padding, aug.crop_padding + 1, (n, 2), generator=generator,
                                      device=device)
    return shift


def augment(images: torch.Tensor, aug, generator: torch.Generator) -> torch.Tensor:
    """Augment float images (N, C, H, W) in [0, 1]: rotation, then affine, then flip."""
    n, size, device = images.shape[0], images.shape[-1], images.device
    if aug.rotation > 0:
        angle = _uniform(n, aug.rotation, generator, device)
        images = _warp(images, rotation_inverse(angle), torch.zeros(n, 2, device=device), aug.interpolation)
    if aug.translate > 0 or aug.crop_padding > 0 or aug.scale > 0 or aug.shear > 0:
        inverse = affine_inverse(1 + _uniform(n, aug.scale, generator, device),
                                 _uniform(n, aug.shear, generator, device))
        images = _warp(images, inverse, random_shift(n, size, aug, generator, device), aug.interpolation)
    if aug.flip > 0:
        flip = torch.rand(n, generator=generator, device=device) < aug.flip
        images = torch.where(flip[:, None, None, None], images.flip(3), images)
    return images
