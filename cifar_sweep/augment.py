"""Batched, per-sample data augmentation on the training device.

The study used torchvision's RandomRotation, RandomAffine and RandomHorizontalFlip on PIL images,
one image at a time. Here one call augments a whole batch: a flip mask, then a single
`affine_grid` + `grid_sample` that applies each image's own rotation, shear, scale, translation
and integer crop shift (zero fill outside the image, as torchvision does). All strengths at zero
give the input back unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _uniform(n: int, half_width: float, generator: torch.Generator, device) -> torch.Tensor:
    """n samples from U(-half_width, half_width)."""
    return (torch.rand(n, generator=generator, device=device) * 2 - 1) * half_width


def has_geometry(aug) -> bool:
    return any(aug[k] > 0 for k in ("crop_padding", "rotation", "translate", "scale", "shear"))


def random_affine(n: int, size: int, aug, generator: torch.Generator, device) -> torch.Tensor:
    """(n, 2, 3) sampling matrices for `affine_grid` (output -> input, normalised coordinates)."""
    angle = torch.deg2rad(_uniform(n, aug.rotation, generator, device))
    shear = torch.tan(torch.deg2rad(_uniform(n, aug.shear, generator, device)))
    scale = 1 + _uniform(n, aug.scale, generator, device)
    # image spans 2 units in normalised coordinates: a fraction f of its size is 2f
    shift = _uniform(2 * n, 2 * aug.translate, generator, device).view(2, n)
    if aug.crop_padding > 0:
        pixels = torch.randint(-aug.crop_padding, aug.crop_padding + 1, (2, n), generator=generator,
                               device=device)
        shift = shift + pixels * (2.0 / size)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # forward map A = scale * Rotation @ Shear_x, det(A) = scale^2
    a, b = scale * cos, scale * (cos * shear - sin)
    c, d = scale * sin, scale * (sin * shear + cos)
    det = scale * scale
    inv = torch.stack([torch.stack([d, -b], 1), torch.stack([-c, a], 1)], 1) / det[:, None, None]
    offset = -(inv @ shift.T.unsqueeze(2))
    return torch.cat([inv, offset], dim=2)


def augment(images: torch.Tensor, aug, generator: torch.Generator) -> torch.Tensor:
    """Augment float images (N, C, H, W) in [0, 1]; each image draws its own parameters."""
    n, device = images.shape[0], images.device
    if aug.flip > 0:
        flip = torch.rand(n, generator=generator, device=device) < aug.flip
        images = torch.where(flip[:, None, None, None], images.flip(3), images)
    if has_geometry(aug):
        theta = random_affine(n, images.shape[-1], aug, generator, device)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return images
