"""Differentiable robustness transforms, with per-image seeded random parameters.

Small random changes to the image at every step keep gradient ascent from exploiting
pixel-exact, high-frequency patterns (Mordvintsev et al. 2015; Olah et al. 2017, Distill,
"Transformation robustness"). As in kornia, the random parameters are **sampled** separately from
being **applied**: :meth:`Transforms.sample` draws uniforms for many steps at once, each image from
its own seeded stream, and :meth:`Transforms.forward` applies one step's worth, so any step can be
replayed exactly.

Geometric transforms (:class:`Jitter`, :class:`RandomScale`, :class:`RandomRotate`) compose into a
single affine matrix per image, applied with one ``kornia.geometry.transform.warp_affine`` call
(one resampling, not one per transform); :class:`Pad` adds a border of a fill colour. The result is
resized to the model's input size as part of the same warp.

Example:
    >>> t = Transforms(standard())
    >>> u = t.sample(seeds=[1, 2], steps=100)          # (100, 2, t.n_random)
    >>> x = t(images, u[0], out_size=(224, 224))        # differentiable in images
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from kornia.geometry.transform import warp_affine
from torch import nn

from featviz import rng
from featviz.errors import InvalidArgumentError
from featviz.imaging import resize


class Transform(nn.Module, abc.ABC):
    """One transform; ``n_random`` is how many uniforms in [0, 1) it consumes per image per step."""

    n_random: int = 0

    @abc.abstractmethod
    def forward(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Apply to ``images`` ``(B, 3, H, W)`` with this step's uniforms ``u`` ``(B, n_random)``."""


class AffineTransform(Transform):
    """A geometric transform expressed as a 3x3 matrix in pixel units about the image center."""

    @abc.abstractmethod
    def matrix(self, u: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``(B, 3, 3)`` matrices mapping centered source coordinates to centered output ones."""

    def forward(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        return _warp(images, self.matrix(u, height, width), (height, width), (height, width), 0.5)


class Pad(Transform):
    """Pad every side by ``pixels`` with a constant ``fill`` (grey by default).

    Padding before jitter and rotation gives the model a neutral border instead of the image's
    own edge pixels (Lucid's ``pad(12, constant_value=.5)``).
    """

    def __init__(self, pixels: int, fill: float = 0.5) -> None:
        super().__init__()
        if pixels < 0:
            raise InvalidArgumentError(f"Pad needs a non-negative number of pixels, got {pixels}")
        self.pixels, self.fill = pixels, fill

    def forward(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        p = self.pixels
        return F.pad(images, (p, p, p, p), mode="constant", value=self.fill)

    def extra_repr(self) -> str:
        return f"pixels={self.pixels}, fill={self.fill}"


class Jitter(AffineTransform):
    """Shift by up to ``pixels`` in each direction (uniform, sub-pixel)."""

    n_random = 2

    def __init__(self, pixels: float) -> None:
        super().__init__()
        self.pixels = float(pixels)

    def matrix(self, u: torch.Tensor, height: int, width: int) -> torch.Tensor:
        shift = (u * 2 - 1) * self.pixels
        m = _eye(u)
        m[:, 0, 2] = shift[:, 0]
        m[:, 1, 2] = shift[:, 1]
        return m

    def extra_repr(self) -> str:
        return f"pixels={self.pixels:g}"


class RandomScale(AffineTransform):
    """Zoom by a factor drawn uniformly from ``[low, high]``."""

    n_random = 1

    def __init__(self, low: float = 0.9, high: float = 1.1) -> None:
        super().__init__()
        if not 0 < low <= high:
            raise InvalidArgumentError(f"RandomScale needs 0 < low <= high, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def matrix(self, u: torch.Tensor, height: int, width: int) -> torch.Tensor:
        factor = self.low + u[:, 0] * (self.high - self.low)
        m = _eye(u)
        m[:, 0, 0] = factor
        m[:, 1, 1] = factor
        return m

    def extra_repr(self) -> str:
        return f"low={self.low:g}, high={self.high:g}"


class RandomRotate(AffineTransform):
    """Rotate about the center by an angle drawn uniformly from ``[-degrees, degrees]``."""

    n_random = 1

    def __init__(self, degrees: float = 10.0) -> None:
        super().__init__()
        self.degrees = float(degrees)

    def matrix(self, u: torch.Tensor, height: int, width: int) -> torch.Tensor:
        angle = (u[:, 0] * 2 - 1) * math.radians(self.degrees)
        cos, sin = angle.cos(), angle.sin()
        m = _eye(u)
        m[:, 0, 0], m[:, 0, 1] = cos, -sin
        m[:, 1, 0], m[:, 1, 1] = sin, cos
        return m

    def extra_repr(self) -> str:
        return f"degrees={self.degrees:g}"


class MultiCrop(Transform):
    """``crops`` random square box crops of every image, each resized to the output size.

    The batch grows ``crops``-fold (view-major: all images' first crops, then their second
    crops, ...) and the render loop averages each image's score over its crops, so one step sees
    the image at many scales and places. Box sides are drawn uniformly from
    ``[min_size, max_size]`` of the canvas, centers uniformly where the box fits. This is the
    multi-crop robustness of MACO (Fel et al. 2023, "Unlocking Feature Visualization for Deeper
    Networks with MAgnitude Constrained Optimization") and faccent's box crops; it costs
    ``crops`` forward/backward passes per step.
    """

    def __init__(self, crops: int = 8, min_size: float = 0.3, max_size: float = 1.0) -> None:
        super().__init__()
        if not isinstance(crops, int) or crops < 1:
            raise InvalidArgumentError(f"MultiCrop needs crops >= 1, got {crops!r}")
        if not 0 < min_size <= max_size <= 1:
            raise InvalidArgumentError(
                f"MultiCrop needs 0 < min_size <= max_size <= 1 (fractions of the side), got "
                f"{min_size}, {max_size}"
            )
        self.crops, self.min_size, self.max_size = crops, float(min_size), float(max_size)
        self.n_random = 3 * crops
        self.views = crops

    def matrix(self, u: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``(crops * B, 3, 3)`` view-major centered matrices magnifying each box to the canvas."""
        u = u.view(u.shape[0], self.crops, 3).transpose(0, 1).reshape(-1, 3)  # view-major rows
        side = self.min_size + u[:, 0] * (self.max_size - self.min_size)
        cx = (u[:, 1] * 2 - 1) * (1 - side) * (width - 1) / 2
        cy = (u[:, 2] * 2 - 1) * (1 - side) * (height - 1) / 2
        m = _eye(u)
        m[:, 0, 0] = m[:, 1, 1] = 1 / side
        m[:, 0, 2], m[:, 1, 2] = -cx / side, -cy / side
        return m

    def forward(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        repeated = images.repeat(self.crops, 1, 1, 1)
        return _warp(repeated, self.matrix(u, height, width), (height, width), (height, width), 0.5)

    def extra_repr(self) -> str:
        return f"crops={self.crops}, min_size={self.min_size:g}, max_size={self.max_size:g}"


class GaussianNoise(Transform):
    """Add pixel noise with standard deviation ``std`` (on the [0, 1] scale).

    Each image (and each crop of it) gets its own noise, drawn from a generator seeded by that
    image's step uniform, so noise is reproducible and independent of the batch. MACO and faccent
    add noise of about 0.02 after their crops.
    """

    n_random = 1

    def __init__(self, std: float = 0.02) -> None:
        super().__init__()
        if std < 0:
            raise InvalidArgumentError(f"GaussianNoise needs std >= 0, got {std}")
        self.std = float(std)

    def forward(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        if self.std == 0:
            return images
        seeds = (u[:, 0].double() * 2**31).long().tolist()
        noise = torch.empty_like(images)
        for row, seed in enumerate(seeds):
            gen = torch.Generator(device=images.device).manual_seed(seed)
            noise[row].normal_(0.0, self.std, generator=gen)
        return images + noise

    def extra_repr(self) -> str:
        return f"std={self.std:g}"


class RandomBlur(Transform):
    """Gaussian blur with a standard deviation drawn uniformly from ``[0, max_sigma]`` pixels.

    Random blur discourages pixel-exact high-frequency patterns (Lucid's ``blur`` regularizer,
    applied here as a transform so the picture itself stays sharp).
    """

    n_random = 1

    def __init__(self, max_sigma: float = 1.0) -> None:
        super().__init__()
        if max_sigma < 0:
            raise InvalidArgumentError(f"RandomBlur needs max_sigma >= 0, got {max_sigma}")
        self.max_sigma = float(max_sigma)

    def forward(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        if self.max_sigma == 0:
            return images
        sigma = (u[:, :1] * self.max_sigma).clamp(min=1e-3).expand(-1, 2).to(images.dtype)
        k = 2 * math.ceil(2 * self.max_sigma) + 1
        return gaussian_blur2d(images, (k, k), sigma, border_type="reflect")

    def extra_repr(self) -> str:
        return f"max_sigma={self.max_sigma:g}"


_GOLDEN = 0.6180339887498949


def _per_view(u: torch.Tensor, views: int) -> torch.Tensor:
    """Repeat one image's uniforms for each of its views, shifted so every view differs."""
    if views == 1:
        return u
    shift = torch.arange(views, device=u.device, dtype=u.dtype).repeat_interleave(u.shape[0]) * _GOLDEN
    return (u.repeat(views, 1) + shift[:, None]) % 1.0


def _eye(u: torch.Tensor) -> torch.Tensor:
    return torch.eye(3, device=u.device, dtype=u.dtype).repeat(u.shape[0], 1, 1)


@functools.lru_cache(maxsize=64)
def _frame(
    in_size: tuple[int, int], out_size: tuple[int, int], device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Constant matrices around a centered transform, built once per sizes/device.

    ``outer @ matrix @ inner`` maps source pixels to output pixels: ``inner`` moves the source
    center to the origin, ``outer`` scales the canvas onto ``out_size`` and moves the origin to
    the output center.
    """
    (h_in, w_in), (h_out, w_out) = in_size, out_size
    inner = torch.eye(3, dtype=torch.float64)
    inner[0, 2], inner[1, 2] = -(w_in - 1) / 2, -(h_in - 1) / 2
    outer = torch.diag(torch.tensor([w_out / w_in, h_out / h_in, 1.0], dtype=torch.float64))
    outer[0, 2], outer[1, 2] = (w_out - 1) / 2, (h_out - 1) / 2
    return outer.to(device, dtype), inner.to(device, dtype)


def _warp(
    images: torch.Tensor,
    matrix: torch.Tensor,
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    fill: float,
) -> torch.Tensor:
    """Warp with a centered matrix, resizing the canvas ``in_size`` onto ``out_size``."""
    outer, inner = _frame(tuple(in_size), tuple(out_size), matrix.device, matrix.dtype)
    full = outer @ matrix @ inner
    # Warp the offset from the fill colour so that pixels from outside the canvas become `fill`.
    warped = warp_affine(images - fill, full[:, :2, :], out_size, align_corners=True)
    return warped + fill


class Transforms(nn.Module):
    """An ordered list of transforms, applied with shared per-image random parameters.

    Consecutive geometric transforms are fused into one warp. Any callable ``images -> images``
    (an ``nn.Module`` or function) may appear in the list; it is applied as is.

    Args:
        transforms: the transforms, applied in order.
    """

    def __init__(self, transforms: Sequence[Transform | Callable[[torch.Tensor], torch.Tensor]]):
        super().__init__()
        for t in transforms:
            if not callable(t):
                raise InvalidArgumentError(
                    f"transforms must be featviz Transforms or callables images -> images, "
                    f"got {type(t).__name__} {t!r}"
                )
        self.items = list(transforms)
        self.modules_ = nn.ModuleList([t for t in self.items if isinstance(t, nn.Module)])
        self.n_random = sum(getattr(t, "n_random", 0) for t in self.items)
        self.views = math.prod(getattr(t, "views", 1) for t in self.items)

    def sample(self, seeds: Sequence[int], steps: int) -> torch.Tensor:
        """Uniforms for ``steps`` steps: ``(steps, B, n_random)``, image *i* from ``seeds[i]``."""
        return torch.stack(
            [torch.rand(steps, self.n_random, generator=rng.generator(s, rng.TRANSFORMS)) for s in seeds],
            dim=1,
        )

    def forward(self, images: torch.Tensor, u: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
        """Transform ``images`` with one step's uniforms ``u`` ``(B, n_random)``, ending at ``out_size``.

        With a :class:`MultiCrop` in the list the result has ``views * B`` rows, view-major.
        """
        pending: torch.Tensor | None = None  # fused matrix of the geometric run so far
        size = (images.shape[-2], images.shape[-1])
        batch = images.shape[0]
        views = 1  # rows per image so far
        offset = 0
        for t in self.items:
            n = getattr(t, "n_random", 0)
            step_u = _per_view(u[:, offset : offset + n], views)
            offset += n
            if isinstance(t, MultiCrop):
                crop = t.matrix(step_u[:batch], *size)  # one image's crops share its uniforms
                crop = crop.view(t.crops, 1, batch, 3, 3).expand(-1, views, -1, -1, -1).reshape(-1, 3, 3)
                images = images.repeat(t.crops, 1, 1, 1)
                pending = crop @ pending.repeat(t.crops, 1, 1) if pending is not None else crop
                views *= t.crops
                continue
            if isinstance(t, AffineTransform):
                m = t.matrix(step_u, *size)
                pending = m if pending is None else m @ pending
                continue
            if pending is not None:
                images = _warp(images, pending, size, size, 0.5)
                pending = None
            images = t(images, step_u) if isinstance(t, Transform) else t(images)
            size = (images.shape[-2], images.shape[-1])
        if pending is not None:
            return _warp(images, pending, size, out_size, 0.5)
        if size != tuple(out_size):
            return resize(images, out_size)
        return images

    def extra_repr(self) -> str:
        return ", ".join(repr(t) for t in self.items)


def standard() -> list[Transform]:
    """Lucid's robustness set: pad 12, jitter 8, scale 0.9–1.1, rotate ±10°, jitter 4.

    The same recipe as Lucid's ``standard_transforms`` (Olah et al. 2017), executed as one warp
    (featviz's default until it was measured against :func:`wide`).
    """
    return [Pad(12), Jitter(8), RandomScale(0.9, 1.1), RandomRotate(10), Jitter(4)]


def wide() -> list[Transform]:
    """featviz's default robustness set: pad 16, jitter 16, scale 0.5–1.3, rotate ±15°, jitter 4.

    Lucid's :func:`standard` recipe with wider ranges, still one warp per step. The picture must
    work at twice the range of sizes and positions, which makes class renders far more
    recognizable to other models and spectra smoother, at the cost of a little activation
    (benchmarks/RESULTS.md measures each).
    """
    return [Pad(16), Jitter(16), RandomScale(0.5, 1.3), RandomRotate(15), Jitter(4)]


def multicrop(
    crops: int = 8, min_size: float = 0.3, max_size: float = 1.0, noise: float = 0.02
) -> list[Transform]:
    """MACO-style robustness: ``crops`` random box crops per image per step, plus pixel noise.

    Slower per step than :func:`standard` (``crops`` forward passes) but the image has to work at
    many scales at once, which makes class renders more recognizable to other models.
    """
    return [MultiCrop(crops, min_size, max_size), GaussianNoise(noise)]


PRESETS: dict[str, Callable[[], list[Transform]]] = {
    "wide": wide,
    "standard": standard,
    "multicrop": multicrop,
}


def make_transforms(
    transforms: str | Sequence[Transform | Callable[[torch.Tensor], torch.Tensor]] | None,
) -> Transforms:
    """A preset name (``"wide"``, ``"standard"``, ``"multicrop"``), ``"none"``/``None``/``[]``, or a list of
    transforms → :class:`Transforms`.

    Raises:
        InvalidArgumentError: an unknown name or a non-callable item.
    """
    if transforms is None or transforms == "none":
        return Transforms([])
    if isinstance(transforms, str) and transforms in PRESETS:
        return Transforms(PRESETS[transforms]())
    if isinstance(transforms, str):
        raise InvalidArgumentError(
            f"unknown transforms {transforms!r}; expected one of {sorted(PRESETS)}, 'none', or a "
            "list of featviz.transforms objects / callables"
        )
    if isinstance(transforms, Transforms):
        return transforms
    return Transforms(list(transforms))
