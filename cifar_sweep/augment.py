"""Batched, per-sample data augmentation on the training device, with torchvision's semantics.

The study's notebook ran, one PIL image at a time:

    RandomRotation(15)                          nearest, zero fill
    RandomAffine(0, translate=(0.1, 0.1))       whole-pixel shift of up to round(0.1 * 32) = 3 px, zero fill
    RandomHorizontalFlip()                      p = 0.5

Here one call does the same to a whole batch, each image drawing its own parameters, in the same
order: a rotation warp, then an affine warp (translation, and our optional zoom, shear and crop
shift), then the flip. `interpolation` is torchvision's: nearest (its default, the study's) or
bilinear; `whole_pixels` rounds translations to whole pixels, as RandomAffine does. All strengths
zero give the input back unchanged.

When the affine part is a whole-pixel shift and sampling is nearest (the study's settings), the
three steps compose exactly into one sampling grid: output pixel p takes the rotated image's pixel
at mirror(p) - shift, which is zero outside the canvas. That single `grid_sample` gives the same
output as the two warps (tested), several times faster.

Images may be H x W with H != W: rotations, zooms and shears act in pixels about the image's centre,
as torchvision's do, and translations are a fraction of each axis (RandomAffine's max_dx = translate
x width, max_dy = translate x height). Sampling grids are in grid_sample's normalised coordinates,
so a warp's matrix is conjugated by the pixel scales (W/2, H/2); for square images the factors are 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

INTERPOLATIONS = ("nearest", "bilinear")


def _uniform(n: int, half_width: float, generator: torch.Generator, device) -> torch.Tensor:
    """n samples from U(-half_width, half_width)."""
    return (torch.rand(n, generator=generator, device=device) * 2 - 1) * half_width


@dataclass
class Draws:
    """Each image's parameters; drawn in one order whichever path applies them."""

    angle: torch.Tensor  # (n,) degrees
    scale: torch.Tensor  # (n,)
    shear: torch.Tensor  # (n,) degrees
    shift: torch.Tensor  # (n, 2) pixels (x, y)
    flip: torch.Tensor  # (n,) bool


def draw(n: int, size: tuple[int, int], aug, generator: torch.Generator, device) -> Draws:
    """Each image's parameters for images of `size` (H, W)."""
    height, width = size
    angle = _uniform(n, aug.rotation, generator, device)
    scale = 1 + _uniform(n, aug.scale, generator, device)
    shear = _uniform(n, aug.shear, generator, device)
    if height == width:  # one half-width for both axes (bit for bit the square case's draws)
        shift = _uniform(2 * n, aug.translate * width, generator, device).view(n, 2)
    else:
        half = torch.tensor([aug.translate * width, aug.translate * height], device=device)
        shift = _uniform(2 * n, 1.0, generator, device).view(n, 2) * half
    if aug.whole_pixels:
        shift = shift.round()  # torchvision: round(U(-3.2, 3.2)) for 0.1 of 32 px
    if aug.crop_padding > 0:
        shift = shift + torch.randint(
            -aug.crop_padding, aug.crop_padding + 1, (n, 2), generator=generator, device=device
        )
    flip = torch.rand(n, generator=generator, device=device) < aug.flip
    return Draws(angle, scale, shear, shift, flip)


def rotation_inverse(angle_deg: torch.Tensor, aspect: float = 1.0) -> torch.Tensor:
    """(n, 2, 2) inverse of a rotation by angle_deg degrees in pixels, acting on normalised coordinates
    of an image whose height / width is `aspect`."""
    angle = torch.deg2rad(angle_deg)
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([cos, sin * aspect], 1), torch.stack([-sin / aspect, cos], 1)], 1)


def affine_inverse(scale: torch.Tensor, shear_deg: torch.Tensor, aspect: float = 1.0) -> torch.Tensor:
    """(n, 2, 2) inverse of A = scale * Shear_x(shear_deg) in pixels, on normalised coordinates of an
    image whose height / width is `aspect`."""
    shear = torch.tan(torch.deg2rad(shear_deg))
    zero, one = torch.zeros_like(scale), torch.ones_like(scale)
    # A = scale * [[1, shear], [0, 1]]  ->  A^-1 = [[1, -shear], [0, 1]] / scale
    inverse = [torch.stack([one, -shear * aspect], 1), torch.stack([zero, one], 1)]
    return torch.stack(inverse, 1) / scale[:, None, None]


_CENTRES: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def pixel_centres(height: int, width: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised x and y of every pixel centre, as grid_sample sees them: two (1, height * width)."""
    key = (height, width, str(device))
    if key not in _CENTRES:
        cy = (torch.arange(height, device=device, dtype=torch.float32) * 2 + 1) / height - 1
        cx = (torch.arange(width, device=device, dtype=torch.float32) * 2 + 1) / width - 1
        y, x = torch.meshgrid(cy, cx, indexing="ij")
        _CENTRES[key] = x.reshape(1, -1), y.reshape(1, -1)
    return _CENTRES[key]


def normalised(shift: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A shift in pixels (n, 2) as normalised x and y, each (n, 1)."""
    if height == width:
        moved = shift * (2.0 / width)
        return moved[:, 0:1], moved[:, 1:2]
    return shift[:, 0:1] * (2.0 / width), shift[:, 1:2] * (2.0 / height)


def _source(mx: torch.Tensor, my: torch.Tensor, inverse: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """inverse (n, 2, 2) applied to points (mx, my), each (n, H * W); x and y kept apart so
    that every operation runs over a whole row of pixels."""
    return (inverse[:, 0, 0:1] * mx + inverse[:, 0, 1:2] * my, inverse[:, 1, 0:1] * mx + inverse[:, 1, 1:2] * my)


def _sample(images: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, mode: str) -> torch.Tensor:
    """Each output pixel takes the input at (sx, sy), normalised; zero outside the image."""
    n, _, h, w = images.shape
    grid = torch.stack([sx, sy], -1).view(n, h, w, 2)
    return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)


def _warp(images: torch.Tensor, inverse: torch.Tensor, shift: torch.Tensor, mode: str) -> torch.Tensor:
    """Apply x -> A x + shift about the image centre, given A's inverse (n, 2, 2) on normalised
    coordinates and the shift in pixels (n, 2). Output pixel p samples input pixel A^-1 (p - shift)."""
    height, width = images.shape[-2:]
    cx, cy = pixel_centres(height, width, images.device)
    mx, my = normalised(shift, height, width)
    return _sample(images, *_source(cx - mx, cy - my, inverse), mode)


def two_warps(images: torch.Tensor, d: Draws, aug) -> torch.Tensor:
    """The general path: rotation, then affine, then flip, as torchvision does them."""
    n, device = images.shape[0], images.device
    aspect = images.shape[-2] / images.shape[-1]
    if aug.rotation > 0:
        rotation = rotation_inverse(d.angle, aspect)
        images = _warp(images, rotation, torch.zeros(n, 2, device=device), aug.interpolation)
    if aug.translate > 0 or aug.crop_padding > 0 or aug.scale > 0 or aug.shear > 0:
        images = _warp(images, affine_inverse(d.scale, d.shear, aspect), d.shift, aug.interpolation)
    if aug.flip > 0:
        images = torch.where(d.flip[:, None, None, None], images.flip(3), images)
    return images


def one_warp(images: torch.Tensor, d: Draws) -> torch.Tensor:
    """The study's case in one grid (nearest; the affine part a whole-pixel shift): output pixel p
    samples the input at R^-1 (mirror(p) - shift) when mirror(p) - shift lies on the canvas."""
    height, width = images.shape[-2:]
    cx, cy = pixel_centres(height, width, images.device)
    moved_x, moved_y = normalised(d.shift, height, width)
    mx = torch.where(d.flip, -1.0, 1.0)[:, None] * cx - moved_x
    my = cy - moved_y
    sx, sy = _source(mx, my, rotation_inverse(d.angle, height / width))
    sx = sx.masked_fill((mx.abs() > 1) | (my.abs() > 1), -2.0)  # shifted in from outside the canvas: zero
    return _sample(images, sx, sy, "nearest")


def is_pixel_exact(aug) -> bool:
    """Nearest sampling and an affine part that moves by whole pixels only: one grid does it all."""
    return (
        aug.interpolation == "nearest"
        and aug.scale == 0
        and aug.shear == 0
        and (aug.whole_pixels or aug.translate == 0)
    )


def augment(images: torch.Tensor, aug, generator: torch.Generator) -> torch.Tensor:
    """Augment float images (N, C, H, W): rotation, then affine, then flip; zero fill."""
    if not any(getattr(aug, k) > 0 for k in ("rotation", "translate", "scale", "shear", "crop_padding", "flip")):
        return images
    d = draw(images.shape[0], (images.shape[-2], images.shape[-1]), aug, generator, images.device)
    return one_warp(images, d) if is_pixel_exact(aug) else two_warps(images, d, aug)
