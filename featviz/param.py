"""Image parameterizations: ``nn.Module``\\ s whose ``forward()`` returns a batch of images.

Every parameterization returns ``(B, 3, H, W)`` floats in [0, 1]. The optimizer changes its
parameters, never the pixels directly, and the choice of parameters shapes which images gradient
ascent finds (Olah et al. 2017, Distill, "Preconditioning and Parameterization"):

- :class:`PixelImage` — one parameter per pixel and channel.
- :class:`FourierImage` — the image's 2-D Fourier spectrum, scaled by ``1/f**decay_power`` so
  that every frequency learns at a rate matched to natural images' spectrum (the default).

Both optionally express colour in a decorrelated basis (``decorrelate=True``, ImageNet colour
statistics) and map to [0, 1] with a sigmoid.

Example:
    >>> image = FourierImage((224, 224), batch=4, seed=0)
    >>> image().shape
    torch.Size([4, 3, 224, 224])
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import torch
from torch import nn

from featviz import rng
from featviz.errors import InvalidArgumentError

# Square root of the colour covariance of ImageNet pixels (RGB, columns are the decorrelated
# axes), as published with Lucid (Olah et al. 2017). Multiplying decorrelated values by it gives
# colours whose channels correlate the way natural images' do.
_COLOR_CORRELATION_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOR_CORRELATION = _COLOR_CORRELATION_SQRT / _COLOR_CORRELATION_SQRT.norm(dim=0).max()


def normalize_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``224`` or ``(height, width)`` → ``(height, width)``.

    Raises:
        InvalidArgumentError: not one or two positive integers.
    """
    dims = [size] if isinstance(size, int) else list(size)
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise InvalidArgumentError(f"size must be a positive int or (height, width), got {size!r}")
    return dims[0], dims[1]


class ImageParam(nn.Module, abc.ABC):
    """Base class: a batch of ``batch`` images of ``size = (height, width)``.

    Subclasses implement :meth:`raw` (unbounded values, decorrelated colour); this class maps them
    to RGB in [0, 1].
    """

    color: torch.Tensor

    def __init__(self, size: int | Sequence[int], batch: int, decorrelate: bool) -> None:
        super().__init__()
        if not isinstance(batch, int) or batch < 1:
            raise InvalidArgumentError(f"batch must be a positive int, got {batch!r}")
        self.size = normalize_size(size)
        self.batch = batch
        self.decorrelate = decorrelate
        self.register_buffer("color", _COLOR_CORRELATION.clone(), persistent=False)

    @abc.abstractmethod
    def raw(self) -> torch.Tensor:
        """Unbounded image values ``(B, 3, H, W)`` before colour mixing and the sigmoid."""

    def forward(self) -> torch.Tensor:
        """The images, ``(B, 3, H, W)`` in [0, 1]."""
        x = self.raw()
        if self.decorrelate:
            x = torch.einsum("ij,bjhw->bihw", self.color, x)
        return torch.sigmoid(x)

    def extra_repr(self) -> str:
        return f"batch={self.batch}, size={self.size}, decorrelate={self.decorrelate}"


def _normal(shape: Sequence[int], seeds: Sequence[int], std: float) -> torch.Tensor:
    """One normal draw per image, each from that image's own INIT stream."""
    return torch.stack([torch.randn(*shape, generator=rng.generator(s, rng.INIT)) * std for s in seeds])


class PixelImage(ImageParam):
    """One free parameter per pixel and colour channel.

    Args:
        size: ``224`` or ``(height, width)``.
        batch: number of images.
        seed: an int, or one int per image (see :mod:`featviz.rng`).
        decorrelate: express colour in the decorrelated ImageNet basis.
        std: standard deviation of the random initial values.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        batch: int = 1,
        seed: int | Sequence[int] = 0,
        decorrelate: bool = True,
        std: float = 0.01,
    ) -> None:
        super().__init__(size, batch, decorrelate)
        seeds = rng.image_seeds(seed, batch)
        self.pixels = nn.Parameter(_normal((3, *self.size), seeds, std))

    def raw(self) -> torch.Tensor:
        return self.pixels


class FourierImage(ImageParam):
    """The image as a Fourier spectrum, scaled so that all frequencies learn evenly.

    The real 2-D spectrum of each colour channel is a parameter; each frequency ``f`` (cycles
    per pixel) is multiplied by ``1 / max(f, 1/max(H, W)) ** decay_power`` before the inverse FFT.
    Natural images have roughly ``1/f`` amplitude spectra, so with ``decay_power=1`` a step of
    the optimizer changes each frequency in proportion to how much natural images use it, and
    gradient ascent stops chasing high-frequency patterns (Olah et al. 2017, Distill; Mordvintsev
    et al. 2018, "Differentiable Image Parameterizations").

    Args:
        size: ``224`` or ``(height, width)``; need not be square.
        batch: number of images.
        seed: an int, or one int per image.
        decay_power: exponent of the ``1/f`` scaling; 0 = plain (white) spectrum.
        decorrelate: express colour in the decorrelated ImageNet basis.
        std: standard deviation of the random initial spectrum.
    """

    scale: torch.Tensor

    def __init__(
        self,
        size: int | Sequence[int],
        batch: int = 1,
        seed: int | Sequence[int] = 0,
        decay_power: float = 1.0,
        decorrelate: bool = True,
        std: float = 0.01,
    ) -> None:
        super().__init__(size, batch, decorrelate)
        height, width = self.size
        self.decay_power = decay_power
        fy = torch.fft.fftfreq(height)[:, None]
        fx = torch.fft.rfftfreq(width)[None, :]
        freq = (fx.square() + fy.square()).sqrt()
        scale = freq.clamp(min=1.0 / max(height, width)).pow(-decay_power)
        # Keep the image's pixel spread independent of its size and of decay_power: normalize the
        # scale so that a white-noise spectrum of unit variance maps to pixels of about unit variance.
        scale = scale / scale.square().mean().sqrt()
        self.register_buffer("scale", scale, persistent=False)
        seeds = rng.image_seeds(seed, batch)
        spectrum = _normal((3, height, width // 2 + 1, 2), seeds, std)
        self.spectrum = nn.Parameter(spectrum)

    def raw(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        return torch.fft.irfft2(spectrum, s=self.size, norm="ortho")

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, decay_power={self.decay_power}"


PARAMS: dict[str, str] = {
    "fft": "FourierImage: 1/f-scaled Fourier spectrum, decorrelated colour (the default)",
    "fft_rgb": "FourierImage with plain RGB colour (decorrelate=False)",
    "pixel": "PixelImage: one parameter per pixel, decorrelated colour",
    "pixel_rgb": "PixelImage with plain RGB colour (decorrelate=False)",
}


def make_param(
    param: str | ImageParam, size: tuple[int, int], batch: int, seed: int | Sequence[int]
) -> ImageParam:
    """Build a parameterization from a name in :data:`PARAMS`, or check a given instance.

    Raises:
        InvalidArgumentError: unknown name, or an instance whose batch does not match.
    """
    if isinstance(param, ImageParam):
        if param.batch != batch:
            raise InvalidArgumentError(
                f"the given parameterization holds {param.batch} image(s) but this render needs "
                f"{batch} (one per target); build it with batch={batch}"
            )
        return param
    if isinstance(param, nn.Module):
        raise InvalidArgumentError(
            f"param must be a name or a featviz.param.ImageParam subclass, got "
            f"{type(param).__name__}; subclass ImageParam and implement raw()"
        )
    if param == "fft":
        return FourierImage(size, batch, seed)
    if param == "fft_rgb":
        return FourierImage(size, batch, seed, decorrelate=False)
    if param == "pixel":
        return PixelImage(size, batch, seed)
    if param == "pixel_rgb":
        return PixelImage(size, batch, seed, decorrelate=False)
    names = ", ".join(repr(n) for n in PARAMS)
    raise InvalidArgumentError(
        f"unknown parameterization {param!r}; expected one of {names} or an ImageParam instance"
    )
