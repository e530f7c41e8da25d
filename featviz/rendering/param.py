"""Image parameterizations: ``nn.Module``\\ s whose ``forward()`` returns a batch of images.

Every parameterization returns ``(B, 3, H, W)`` floats in [0, 1]. The optimizer changes its
parameters, never the pixels directly, and the choice of parameters shapes which images gradient
ascent finds (Olah et al. 2017, Distill, "Preconditioning and Parameterization"):

- :class:`PixelImage` — one parameter per pixel and channel.
- :class:`FourierImage` — the image's 2-D Fourier spectrum, scaled by ``1/f**decay_power`` so
  that every frequency learns at a rate matched to natural images' spectrum (the default).
- :class:`LaplacianImage` — a Laplacian pyramid of pixel grids; :class:`CPPNImage` — a
  coordinate MLP; :class:`AlphaImage` — any of these plus a learned opacity channel.
- :class:`MacoImage` — only the Fourier *phase* is optimized; the magnitude is fixed to that of
  natural photos (MACO, Fel et al. 2023), so the image keeps a natural spectrum whatever the unit.

Both optionally express colour in a decorrelated basis (``decorrelate=True``, ImageNet colour
statistics) and map to [0, 1] with a sigmoid.

Example:
    >>> image = FourierImage((224, 224), batch=4, seed=0)
    >>> image().shape
    torch.Size([4, 3, 224, 224])
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from featviz import rng
from featviz.errors import InvalidArgumentError
from featviz.files import image_files
from featviz.imaging import load_images, normalize_size

# Square root of the colour covariance of ImageNet pixels (RGB, columns are the decorrelated
# axes), as published with Lucid (Olah et al. 2017). Multiplying decorrelated values by it gives
# colours whose channels correlate the way natural images' do.
_COLOR_CORRELATION_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOR_CORRELATION = _COLOR_CORRELATION_SQRT / _COLOR_CORRELATION_SQRT.norm(dim=0).max()
# The median spread (standard deviation over the image) of natural photos in the space raw()
# works in: decorrelated colour axes before the sigmoid, and one channel's logit for images that
# are not RGB. Measured on the colour crops of featviz.natural.natural_pool(): the standard
# deviation over each crop of _unmix(crop, _COLOR_CORRELATION) per channel (of the logit of the
# grey crop), median over the crops.
NATURAL_SPREAD = (1.52, 1.49, 1.10)
NATURAL_GREY_SPREAD = 0.83
# Pixels are kept this far from 0 and 1 when an image is turned back into parameters (logit).
_LOGIT_EPS = 0.01


def _unmix(images: torch.Tensor, color: torch.Tensor | None) -> torch.Tensor:
    """RGB images in [0, 1] → the unbounded values that ``color`` mixing (if any) and a sigmoid
    map back to them."""
    logits = torch.logit(images.float().clamp(_LOGIT_EPS, 1 - _LOGIT_EPS))
    if color is None:
        return logits
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(color), logits)


def _fourier_scale(height: int, width: int, decay_power: float) -> torch.Tensor:
    """``1 / max(f, 1/max(H, W)) ** decay_power`` over the real-FFT grid, normalized so a
    white-noise spectrum of unit variance maps to pixels of about unit variance (so the pixel
    spread does not depend on the size or on ``decay_power``)."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    freq = (fx.square() + fy.square()).sqrt()
    scale = freq.clamp(min=1.0 / max(height, width)).pow(-decay_power)
    return scale / scale.square().mean().sqrt()


class ImageParam(nn.Module, abc.ABC):
    """Base class: a batch of ``batch`` images of ``size = (height, width)``.

    Subclasses implement :meth:`raw` (unbounded values, decorrelated colour); this class maps them
    to RGB in [0, 1].
    """

    color: torch.Tensor
    spread: torch.Tensor | None
    gain: nn.Parameter | None
    #: The Adam learning rate render() uses for this parameterization unless told otherwise.
    default_lr: float = 0.05
    #: The robustness transforms render() uses with it when ``transforms="auto"``.
    default_transforms: str = "wide"

    #: Image channels; 3 (RGB) unless a subclass takes ``channels=`` (fft and pixel do).
    channels: int = 3

    def __init__(self, size: int | Sequence[int], batch: int, decorrelate: bool, channels: int = 3) -> None:
        super().__init__()
        if not isinstance(batch, int) or batch < 1:
            raise InvalidArgumentError(f"batch must be a positive int, got {batch!r}")
        if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
            raise InvalidArgumentError(f"channels must be a positive int, got {channels!r}")
        self.size = normalize_size(size)
        self.batch = batch
        self.channels = channels
        # The colour decorrelation is ImageNet's RGB statistics: for other channel counts the
        # channels stay independent (a plain Fourier or pixel image per channel).
        self.decorrelate = decorrelate and channels == 3
        self.register_buffer("color", _COLOR_CORRELATION.clone(), persistent=False)
        self.contrast: float | Sequence[float] | None = None
        self.register_buffer("spread", None, persistent=False)
        self.register_parameter("gain", None)

    @abc.abstractmethod
    def raw(self) -> torch.Tensor:
        """Unbounded image values ``(B, 3, H, W)`` before colour mixing and the sigmoid."""

    def set_image(self, images: torch.Tensor) -> None:
        """Set the parameters so that :meth:`forward` reproduces ``images`` (``(B, 3, H, W)`` in
        [0, 1], this parameterization's size), as far as the parameterization can."""
        raise InvalidArgumentError(
            f"{type(self).__name__} cannot start from an image (init=); use 'fft', 'pixel' or 'maco'"
        )

    def _target_raw(self, images: torch.Tensor) -> torch.Tensor:
        """The :meth:`raw` values whose colour mixing and sigmoid give ``images``."""
        return _unmix(images, self.color if self.decorrelate else None)

    def hold_contrast(self, contrast: float | Sequence[float] | None, learned: bool = False) -> None:
        """Hold each image's spread per channel of :meth:`raw` at a multiple of natural photos'
        (:data:`NATURAL_SPREAD`), whatever the optimizer does to the parameters.

        ``contrast`` is one multiple, or ``(luminance, colour)``: the first for the decorrelated
        luminance axis, the second for the two colour axes (images without decorrelated colour —
        grey, multispectral, ``fft_rgb`` — use the first for every channel). ``None`` lets the
        spread float (Lucid's behaviour). ``learned=True`` adds a learned per-image gain on top.
        Called by the subclasses that take ``contrast=``.

        Raises:
            InvalidArgumentError: not a positive number, a pair of them, or None.
        """
        self.contrast = contrast
        if contrast is None:
            return
        values = [contrast] if isinstance(contrast, (int, float)) else list(contrast)
        if len(values) not in (1, 2) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values
        ):
            raise InvalidArgumentError(
                f"contrast must be a positive number, a (luminance, colour) pair of them, or None; "
                f"got {contrast!r}"
            )
        luminance, colour = values[0], values[-1]
        if self.decorrelate:
            scale = torch.tensor(NATURAL_SPREAD) * torch.tensor([luminance, colour, colour])
        else:
            scale = torch.full((self.channels,), NATURAL_GREY_SPREAD * luminance)
        self.spread = scale.float().view(1, -1, 1, 1).repeat(self.batch, 1, 1, 1)
        if learned:
            self.gain = nn.Parameter(torch.zeros(self.batch, 1, 1, 1))

    def _held(self, x: torch.Tensor) -> torch.Tensor:
        if self.spread is None:
            return x
        mean = x.mean((-2, -1), keepdim=True)
        centered = x - mean
        std = centered.square().mean((-2, -1), keepdim=True).add(1e-12).sqrt()
        spread = self.spread if self.gain is None else self.spread * self.gain.exp()
        return self._level(mean) + centered * (spread / std)

    def _level(self, mean: torch.Tensor) -> torch.Tensor:
        """Each held image's mean per channel of :meth:`raw` (free here; a subclass may bound it)."""
        return mean

    def _hold_image(self, raw: torch.Tensor) -> None:
        """After set_image: hold the spread the given image has, so forward() reproduces it —
        but at least a tenth of the held spread, so a flat or grey start image can still gain
        contrast and colour."""
        if self.spread is not None:
            with torch.no_grad():
                given = raw.std((-2, -1), unbiased=False, keepdim=True)
                self.spread.copy_(torch.maximum(given, 0.1 * self.spread))
                if self.gain is not None:
                    self.gain.zero_()

    def forward(self) -> torch.Tensor:
        """The images, ``(B, 3, H, W)`` in [0, 1]."""
        return self._image(self.raw())

    def _image(self, raw: torch.Tensor) -> torch.Tensor:
        """:meth:`raw` values → images: the held spread, colour mixing and the sigmoid."""
        x = self._held(raw)
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
        decorrelate: express colour in the decorrelated ImageNet basis (RGB only).
        std: standard deviation of the random initial values.
        channels: image channels (1 for a grayscale model, N for multispectral ones).
    """

    def __init__(
        self,
        size: int | Sequence[int],
        batch: int = 1,
        seed: int | Sequence[int] = 0,
        decorrelate: bool = True,
        std: float = 0.01,
        channels: int = 3,
    ) -> None:
        super().__init__(size, batch, decorrelate, channels)
        seeds = rng.image_seeds(seed, batch)
        self.pixels = nn.Parameter(_normal((self.channels, *self.size), seeds, std))

    def raw(self) -> torch.Tensor:
        return self.pixels

    def set_image(self, images: torch.Tensor) -> None:
        with torch.no_grad():
            self.pixels.copy_(self._target_raw(images.to(self.pixels.device)))


#: FourierImage's default exponent of its 1/f frequency scaling (Lucid uses 1.0).
DEFAULT_DECAY_POWER = 1.25
#: FourierImage's default held contrast: (luminance, colour) multiples of natural photos' spread.
DEFAULT_CONTRAST = (0.8, 1.4)


class FourierImage(ImageParam):
    """The image as a Fourier spectrum, scaled so that all frequencies learn evenly.

    The real 2-D spectrum of each colour channel is a parameter; each frequency ``f`` (cycles
    per pixel) is multiplied by ``1 / max(f, 1/max(H, W)) ** decay_power`` before the inverse FFT.
    Natural images have roughly ``1/f`` amplitude spectra, so with ``decay_power=1`` (Lucid's
    choice) a step of the optimizer changes each frequency in proportion to how much natural images
    use it, and gradient ascent stops chasing high-frequency patterns (Olah et al. 2017, Distill;
    Mordvintsev et al. 2018, "Differentiable Image Parameterizations"). featviz's default
    :data:`DEFAULT_DECAY_POWER` of 1.25 tilts the steps a little further towards low frequencies:
    measured on the quality benchmark, renders keep a natural spectrum and transfer much better
    to other models (benchmarks/RESULTS.md). Its default Adam learning rate is 0.025.

    The contrast is held (:meth:`ImageParam.hold_contrast`): before the colour mixing and the
    sigmoid, each image's spread on the luminance axis and on the two colour axes is held at the
    multiples :data:`DEFAULT_CONTRAST` of natural photos' spread. The optimizer then shapes *what*
    the picture shows, not how loud it is: without it, a small learning rate leaves pictures pale
    and grey (colourfulness 16, grey contrast 18 on the benchmark, against 43 and 36 for photos);
    with it they sit inside the photos' band at the same activation and transfer
    (benchmarks/RESULTS.md). ``contrast=None`` is Lucid's free spread.

    Args:
        size: ``224`` or ``(height, width)``; need not be square.
        batch: number of images.
        seed: an int, or one int per image.
        decay_power: exponent of the ``1/f`` scaling; 0 = plain (white) spectrum, 1 = Lucid's.
        decorrelate: express colour in the decorrelated ImageNet basis (RGB only).
        std: standard deviation of the random initial spectrum (default 0.1 with a held contrast,
            0.01, Lucid's, without). With the spread held, a larger start makes the first steps
            change the picture less: 0.1 transferred better than 0.01 on the benchmark.
        channels: image channels (1 for a grayscale model, N for multispectral ones).
        contrast: the held spread, one multiple of natural photos' or ``(luminance, colour)``;
            ``None`` lets it float.
        learn_contrast: learn a per-image gain on top of the held spread.
    """

    scale: torch.Tensor
    default_lr = 0.025

    def __init__(
        self,
        size: int | Sequence[int],
        batch: int = 1,
        seed: int | Sequence[int] = 0,
        decay_power: float | None = None,
        decorrelate: bool = True,
        std: float | None = None,
        channels: int = 3,
        contrast: float | Sequence[float] | None = DEFAULT_CONTRAST,
        learn_contrast: bool = False,
    ) -> None:
        super().__init__(size, batch, decorrelate, channels)
        self.hold_contrast(contrast, learn_contrast)
        height, width = self.size
        decay_power = DEFAULT_DECAY_POWER if decay_power is None else float(decay_power)
        self.decay_power = decay_power
        self.register_buffer("scale", _fourier_scale(height, width, decay_power), persistent=False)
        seeds = rng.image_seeds(seed, batch)
        if std is None:  # held: the start spread sets how far the first steps move the picture
            std = 0.1 if contrast is not None else 0.01
        spectrum = _normal((self.channels, height, width // 2 + 1, 2), seeds, std)
        self.spectrum = nn.Parameter(spectrum)

    def raw(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        return torch.fft.irfft2(spectrum, s=self.size, norm="ortho")

    def set_image(self, images: torch.Tensor) -> None:
        with torch.no_grad():
            raw = self._target_raw(images.to(self.scale.device))
            self.spectrum.copy_(torch.view_as_real(torch.fft.rfft2(raw, norm="ortho") / self.scale))
        self._hold_image(raw)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, decay_power={self.decay_power}, contrast={self.contrast}"


# The shipped natural-image magnitude spectrum: see spectrum_from_images and tools/make_spectrum.py.
SPECTRUM_FILE = "natural_spectrum_224.npy"


def spectrum_from_images(images: torch.Tensor | str | Path, size: int | Sequence[int] = 224) -> torch.Tensor:
    """The mean Fourier magnitude of natural images, for :class:`MacoImage`.

    Each image is resized (shorter side) and center-cropped to ``size``, mapped into the space the
    parameterizations work in (logit of the pixel, decorrelated colour), Hann-windowed about its
    mean, and the magnitudes of its real 2-D FFT (``norm="ortho"``) are averaged over the images.

    Args:
        images: a ``(N, 3, H, W)`` tensor in [0, 1], or a folder of image files (searched
            recursively, see :func:`featviz.files.image_files`).
        size: ``224`` or ``(height, width)`` of the spectrum's image.

    Returns:
        ``(3, height, width // 2 + 1)`` float32 magnitudes.

    Raises:
        InvalidArgumentError: no images, or not an RGB batch in [0, 1].
    """
    height, width = normalize_size(size)
    if isinstance(images, (str, Path)):
        images = load_images(image_files(images), (height, width))
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3 or len(images) == 0:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InvalidArgumentError(
            f"spectrum_from_images needs a folder of images or a (N, 3, H, W) tensor, got {shape}"
        )
    if images.min() < 0 or images.max() > 1:
        raise InvalidArgumentError("spectrum_from_images needs pixel values in [0, 1]")
    # A Hann window hides the photo's borders: without it the jump between opposite edges puts
    # a bright cross along the frequency axes, which renders then show as a grid of lines.
    window = torch.hann_window(height, periodic=False)[:, None] * torch.hann_window(width, periodic=False)
    window = window / window.square().mean().sqrt()  # keep the pixel power
    total = torch.zeros(3, height, width // 2 + 1)
    for start in range(0, len(images), 16):
        x = _unmix(load_images(images[start : start + 16], (height, width)), _COLOR_CORRELATION)
        mean = x.mean((-2, -1), keepdim=True)
        spectrum = torch.fft.rfft2((x - mean) * window + mean, norm="ortho").abs()
        total += spectrum.sum(0)
    return total / len(images)


@functools.lru_cache(maxsize=1)
def _shipped_spectrum() -> torch.Tensor:
    with resources.files("featviz").joinpath("data", SPECTRUM_FILE).open("rb") as handle:
        return torch.from_numpy(np.load(handle).astype(np.float32))


def resample_spectrum(spectrum: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A ``(3, h, w//2+1)`` magnitude spectrum at another image size, matched by frequency
    (cycles per pixel), interpolating log-magnitudes; pixel contrast is kept. A source that
    does not already fit is taken to come from an even-width image."""
    height, width = size
    if tuple(spectrum.shape[-2:]) == (height, width // 2 + 1):
        return spectrum
    src_h = spectrum.shape[-2]
    src_w = 2 * (spectrum.shape[-1] - 1)
    # Full, centered plane from the real half (|F(-f)| = |F(f)| for real images).
    full = torch.cat([spectrum, spectrum[:, (-torch.arange(src_h)) % src_h, 1:-1].flip(-1)], dim=-1)
    full = torch.fft.fftshift(full.clamp(min=1e-8).log(), dim=(-2, -1))
    fy = torch.fft.fftfreq(height)[:, None].expand(height, width // 2 + 1)
    fx = torch.fft.rfftfreq(width)[None, :].expand(height, width // 2 + 1)
    # grid_sample coordinates: -1..1 spans the source's centered plane (align_corners=False).
    gx = (fx * src_w + src_w // 2 + 0.5) / src_w * 2 - 1
    gy = (fy * src_h + src_h // 2 + 0.5) / src_h * 2 - 1
    grid = torch.stack([gx, gy], dim=-1)[None]
    out = F.grid_sample(full[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[
        0
    ].exp()
    # Same mean power per coefficient as the source, so the same pixel contrast.
    return out * (spectrum.square().mean() / out.square().mean()).sqrt()


class MacoImage(ImageParam):
    """Phase-only Fourier parameterization under a fixed natural magnitude spectrum (MACO).

    Each image is ``irfft2(magnitude * exp(i * phase))`` per decorrelated colour channel, then
    colour mixing and a sigmoid as for the other parameterizations; only ``phase`` is learned.
    Because the magnitude never changes, the image's spectrum and contrast stay those of natural
    photos, which keeps renders of deep units natural-looking (Fel et al. 2023, "Unlocking Feature
    Visualization for Deeper Networks with MAgnitude Constrained Optimization", NeurIPS). MACO
    relies on strong multi-crop and noise transforms (``transforms="multicrop"``, chosen
    automatically by ``render(param="maco")``).

    The reference implementation downloads an ImageNet spectrum at run time. featviz ships one
    computed offline from scikit-image's colour photos (astronaut, chelsea, coffee, rocket,
    stereo_motorcycle, hubble_deep_field; five crops each, see ``tools/make_spectrum.py``);
    build your own with :func:`spectrum_from_images`.

    Args:
        size: ``224`` or ``(height, width)``.
        batch: number of images.
        seed: an int, or one int per image (the random initial phases).
        spectrum: ``(3, H, W//2+1)`` magnitudes (any size; resampled by frequency), e.g. from
            :func:`spectrum_from_images`; default: the shipped natural spectrum.
        contrast: multiplies every magnitude but the mean colour's (pixel contrast); the
            default 1.5 compensates for averaging magnitudes over photos, which smooths them.
        channels: 3 (RGB), or 1 for a grayscale model: the natural luminance spectrum.
    """

    magnitude: torch.Tensor
    default_lr = 0.1  # radians of phase per Adam step
    default_transforms = "multicrop"  # as MACO was designed

    def __init__(
        self,
        size: int | Sequence[int],
        batch: int = 1,
        seed: int | Sequence[int] = 0,
        spectrum: torch.Tensor | None = None,
        contrast: float = 1.5,
        channels: int = 3,
    ) -> None:
        if channels not in (1, 3):
            raise InvalidArgumentError(
                f"MacoImage makes RGB or grayscale images (channels 3 or 1), got {channels}"
            )
        super().__init__(size, batch, decorrelate=True, channels=channels)
        height, width = self.size
        self.contrast = float(contrast)
        source = _shipped_spectrum() if spectrum is None else torch.as_tensor(spectrum, dtype=torch.float32)
        if source.dim() != 3 or source.shape[0] != 3:
            raise InvalidArgumentError(
                f"spectrum must be (3, H, W//2+1) magnitudes as from spectrum_from_images, got "
                f"{tuple(source.shape)}"
            )
        if channels == 1:
            # Grayscale: the photos' luminance. The first decorrelated axis is luminance (its
            # colour column is nearly equal in R, G, B; the others average to zero over R, G, B),
            # so a grey pixel's logit is that axis times its column's mean.
            source = source[:1] * _COLOR_CORRELATION[:, 0].mean()
        magnitude = resample_spectrum(source, (height, width)) * self.contrast
        magnitude[:, 0, 0] /= self.contrast  # the mean colour stays the photos'
        self.register_buffer("magnitude", magnitude, persistent=False)
        seeds = rng.image_seeds(seed, batch)
        shape = (self.channels, height, width // 2 + 1)
        phase = torch.stack([torch.rand(*shape, generator=rng.generator(s, rng.INIT)) for s in seeds])
        phase = (phase * 2 - 1) * math.pi
        phase[:, :, 0, 0] = 0.0  # the mean colour starts at the photos' mean colour
        self.phase = nn.Parameter(phase)

    def raw(self) -> torch.Tensor:
        spectrum = torch.polar(self.magnitude.expand_as(self.phase), self.phase)
        return torch.fft.irfft2(spectrum, s=self.size, norm="ortho")

    def set_image(self, images: torch.Tensor) -> None:
        """Take the image's phase; the magnitude stays natural, so the start is an approximation."""
        with torch.no_grad():
            target = torch.fft.rfft2(self._target_raw(images.to(self.magnitude.device)), norm="ortho")
            self.phase.copy_(target.angle())


class LaplacianImage(ImageParam):
    """The image as a Laplacian pyramid: a sum of pixel grids at halving resolutions.

    Level ``k`` is a ``(H / 2**k, W / 2**k)`` grid upsampled (bilinear) to full size; the image
    is their sum. Coarse levels move large regions with one parameter, so smooth structure is
    learned early and fine detail only where it pays (Lucid's ``laplacian_pyramid``;
    Mordvintsev et al. 2018, "Differentiable Image Parameterizations").

    Args:
        size: ``224`` or ``(height, width)``.
        batch: number of images.
        seed: an int, or one int per image.
        levels: number of levels (default: until the coarsest side is about 4 px).
        decorrelate: express colour in the decorrelated ImageNet basis.
        std: standard deviation of the random initial values of each level.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        batch: int = 1,
        seed: int | Sequence[int] = 0,
        levels: int | None = None,
        decorrelate: bool = True,
        std: float = 0.01,
        channels: int = 3,
    ) -> None:
        super().__init__(size, batch, decorrelate, channels)
        height, width = self.size
        most = max(1, int(math.log2(max(1, min(height, width) // 4))) + 1)
        self.levels = most if levels is None else levels
        if not isinstance(self.levels, int) or not 1 <= self.levels <= most:
            raise InvalidArgumentError(
                f"levels must be an int in 1..{most} for size {self.size}, got {levels!r}"
            )
        seeds = rng.image_seeds(seed, batch)
        grids = []
        for k in range(self.levels):
            shape = (3, max(1, math.ceil(height / 2**k)), max(1, math.ceil(width / 2**k)))
            grids.append(nn.Parameter(_normal(shape, [rng.image_seed(s, k) for s in seeds], std)))
        self.grids = nn.ParameterList(grids)

    def raw(self) -> torch.Tensor:
        total = self.grids[0]
        for grid in self.grids[1:]:
            total = total + F.interpolate(grid, size=self.size, mode="bilinear", align_corners=False)
        return total

    def set_image(self, images: torch.Tensor) -> None:
        with torch.no_grad():
            for grid in self.grids[1:]:
                grid.zero_()
            self.grids[0].copy_(self._target_raw(images.to(self.grids[0].device)))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, levels={self.levels}"


class CPPNImage(ImageParam):
    """A compositional pattern-producing network: a small per-image MLP from pixel coordinates
    ``(x, y, r)`` to colour, so the image is a smooth function of position at any resolution.

    Each hidden layer applies the composite activation ``[atan(z) / 0.67, atan(z)**2 / 0.6]``;
    weights start normal with variance 1/fan-in. CPPN renders look organic and can be drawn at a
    larger size after optimization with :meth:`render_at` (Mordvintsev et al. 2018, Distill,
    "Differentiable Image Parameterizations", section "Compositional Pattern Producing
    Networks"). Weights are sensitive: its default learning rate is 0.005, and it needs more
    steps than the Fourier parameterization (about 1000).

    The network's output is a decorrelated colour, its spread held like the Fourier image's
    (:meth:`ImageParam.hold_contrast`, ``contrast=``) and its mean kept within ±1.5 (a tanh):
    left free, the optimizer drifts the output's mean until the sigmoid saturates and the
    picture is one flat colour. Its default
    transforms are Lucid's ``standard`` ones; the ``wide`` ones move the picture more than a
    network learning at lr 0.005 can follow.

    Args:
        size: ``224`` or ``(height, width)``.
        batch: number of images (each its own network).
        seed: an int, or one int per image.
        hidden: channels per hidden layer.
        layers: number of hidden layers.
        contrast: the held spread (as for :class:`FourierImage`); None: free (Lucid's).
    """

    default_lr = 0.005
    default_transforms = "standard"
    #: The mean of each raw channel is kept within ± this (a tanh), so it cannot drift into the
    #: sigmoid's flat ends either.
    mean_bound = 1.5

    def __init__(
        self,
        size: int | Sequence[int],
        batch: int = 1,
        seed: int | Sequence[int] = 0,
        hidden: int = 24,
        layers: int = 8,
        contrast: float | Sequence[float] | None = DEFAULT_CONTRAST,
    ) -> None:
        super().__init__(size, batch, decorrelate=True)
        if hidden < 1 or layers < 1:
            raise InvalidArgumentError(f"CPPN needs hidden >= 1 and layers >= 1, got {hidden}, {layers}")
        self.hold_contrast(contrast)
        self.hidden, self.depth = hidden, layers
        seeds = rng.image_seeds(seed, batch)
        gens = [rng.generator(s, rng.INIT) for s in seeds]
        widths = [3, *([2 * hidden] * layers)]
        weights: list[nn.Parameter] = []
        biases: list[nn.Parameter] = []
        for fan_in in widths:
            out = hidden if len(weights) < layers else 3
            w = torch.stack([torch.randn(out, fan_in, generator=g) for g in gens]) / math.sqrt(fan_in)
            weights.append(nn.Parameter(w))
            biases.append(nn.Parameter(torch.zeros(batch, out)))
        # The output layer starts at zero, so the first image is flat grey (as in Lucid).
        with torch.no_grad():
            weights[-1].zero_()
        self.weights, self.biases = nn.ParameterList(weights), nn.ParameterList(biases)

    def _level(self, mean: torch.Tensor) -> torch.Tensor:
        return self.mean_bound * torch.tanh(mean / self.mean_bound)

    def _coordinates(self, size: tuple[int, int]) -> torch.Tensor:
        height, width = size
        device = self.weights[0].device
        r = math.sqrt(3.0)
        ys = torch.linspace(-r, r, height, device=device) * (height / max(height, width))
        xs = torch.linspace(-r, r, width, device=device) * (width / max(height, width))
        y, x = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([x, y, (x.square() + y.square()).sqrt()]).flatten(1)  # (3, H*W)

    def _net(self, size: tuple[int, int]) -> torch.Tensor:
        z = self._coordinates(size)[None].expand(self.batch, -1, -1)  # (B, 3, P)
        for index, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = torch.einsum("boi,bip->bop", w, z) + b[..., None]
            if index < self.depth:
                a = torch.atan(z)
                z = torch.cat([a / 0.67, a.square() / 0.6], dim=1)
        return z.view(self.batch, 3, *size)

    def raw(self) -> torch.Tensor:
        return self._net(self.size)

    def render_at(self, size: int | Sequence[int]) -> torch.Tensor:
        """The same images drawn at another resolution, ``(B, 3, h, w)`` in [0, 1]."""
        with torch.no_grad():
            return self._image(self._net(normalize_size(size)))

    def extra_repr(self) -> str:
        return f"batch={self.batch}, size={self.size}, hidden={self.hidden}, layers={self.depth}"


class AlphaImage(ImageParam):
    """An RGB parameterization plus a learned alpha (opacity) channel: ``(B, 4, H, W)`` images.

    The alpha channel is its own ``1/f``-scaled Fourier spectrum through a sigmoid. During a
    render the RGB is composited over a random background colour at every step and opacity
    costs a little score, so the picture keeps only what the unit needs to see and the rest
    becomes transparent (Mordvintsev et al. 2018, Distill, "Differentiable Image
    Parameterizations", section "Transparent Neurons"; Lucid). ``render(..., alpha=True)``
    builds one around the chosen parameterization; ``RenderResult.save`` writes RGBA PNGs.

    Args:
        rgb: the colour parameterization (any :class:`ImageParam` with ``batch`` images).
        seed: an int, or one int per image (the alpha spectrum's random start).
        start: initial opacity (0..1) everywhere.
    """

    scale: torch.Tensor

    def __init__(self, rgb: ImageParam, seed: int | Sequence[int] = 0, start: float = 0.5) -> None:
        if isinstance(rgb, AlphaImage):
            raise InvalidArgumentError("AlphaImage needs an RGB parameterization, got another AlphaImage")
        super().__init__(rgb.size, rgb.batch, decorrelate=False)
        if not 0 < start < 1:
            raise InvalidArgumentError(f"start opacity must be strictly between 0 and 1, got {start}")
        self.rgb = rgb
        height, width = self.size
        self.register_buffer("scale", _fourier_scale(height, width, 1.0), persistent=False)
        seeds = [rng.image_seed(s, 1) for s in rng.image_seeds(seed, self.batch)]  # not the RGB stream
        spectrum = _normal((1, height, width // 2 + 1, 2), seeds, 0.01)
        # The DC coefficient sets the mean opacity: logit(start) * sqrt(H * W) under "ortho".
        spectrum[:, :, 0, 0, 0] += (
            math.log(start / (1 - start)) * math.sqrt(height * width) / self.scale[0, 0]
        )
        self.alpha_spectrum = nn.Parameter(spectrum)

    def raw(self) -> torch.Tensor:
        return self.rgb.raw()

    def alpha(self) -> torch.Tensor:
        """The opacity, ``(B, 1, H, W)`` in [0, 1]."""
        spectrum = torch.view_as_complex(self.alpha_spectrum) * self.scale
        return torch.sigmoid(torch.fft.irfft2(spectrum, s=self.size, norm="ortho"))

    def forward(self) -> torch.Tensor:
        """``(B, 4, H, W)``: RGB then alpha, all in [0, 1]."""
        return torch.cat([self.rgb(), self.alpha()], dim=1)

    def set_image(self, images: torch.Tensor) -> None:
        self.rgb.set_image(images[:, :3])

    def extra_repr(self) -> str:
        return f"batch={self.batch}, size={self.size}"


def composite(images: torch.Tensor, background: torch.Tensor | float) -> torch.Tensor:
    """RGBA ``(B, 4, H, W)`` over a background (a float grey, or ``(B, 3, 1, 1)`` / ``(B, 3, H, W)``)
    → RGB. RGB input is returned unchanged."""
    if images.shape[1] == 3:
        return images
    alpha = images[:, 3:4]
    return images[:, :3] * alpha + (1 - alpha) * background


PARAMS: dict[str, str] = {
    "fft": "FourierImage: 1/f^1.25-scaled Fourier spectrum, decorrelated colour (the default)",
    "fft_rgb": "FourierImage with plain RGB colour (decorrelate=False)",
    "pixel": "PixelImage: one parameter per pixel, decorrelated colour",
    "pixel_rgb": "PixelImage with plain RGB colour (decorrelate=False)",
    "maco": "MacoImage: phase-only Fourier under a fixed natural magnitude spectrum (MACO)",
    "laplacian": "LaplacianImage: sum of pixel grids at halving resolutions, decorrelated colour",
    "cppn": "CPPNImage: a per-image coordinate MLP (organic, resolution-free patterns; lr 0.005)",
}

# What each name in PARAMS builds: the class and its keyword arguments.
_BUILDS: dict[str, tuple[type[ImageParam], dict[str, Any]]] = {
    "fft": (FourierImage, {}),
    "fft_rgb": (FourierImage, {"decorrelate": False}),
    "pixel": (PixelImage, {}),
    "pixel_rgb": (PixelImage, {"decorrelate": False}),
    "maco": (MacoImage, {}),
    "laplacian": (LaplacianImage, {}),
    "cppn": (CPPNImage, {}),
}


def _kind(param: str | ImageParam) -> ImageParam | type[ImageParam]:
    """The parameterization (an instance) or its class (a name); ImageParam for anything else."""
    if isinstance(param, ImageParam):
        return param
    if isinstance(param, str) and param in _BUILDS:
        return _BUILDS[param][0]
    return ImageParam


def default_transforms(param: str | ImageParam) -> str:
    """The transforms a parameterization (name or instance) was designed with."""
    return _kind(param).default_transforms


def default_lr(param: str | ImageParam) -> float:
    """The learning rate a parameterization (name or instance) is tuned for."""
    return _kind(param).default_lr


def make_param(
    param: str | ImageParam,
    size: tuple[int, int],
    batch: int,
    seed: int | Sequence[int],
    alpha: bool = False,
    channels: int = 3,
) -> ImageParam:
    """Build a parameterization from a name in :data:`PARAMS`, or check a given instance;
    ``alpha=True`` wraps it in an :class:`AlphaImage`. ``channels`` other than 3 (a grayscale
    or multispectral model) are made by ``"fft"`` and ``"pixel"`` as independent channels.

    Raises:
        InvalidArgumentError: unknown name, an instance whose batch or channels do not match,
            or a parameterization (or alpha) that exists for RGB only.
    """
    if channels != 3:
        name = param if isinstance(param, str) else type(param).__name__
        allowed = ("fft", "fft_rgb", "pixel", "pixel_rgb") + (("maco",) if channels == 1 else ())
        if alpha or (isinstance(param, str) and param not in allowed):
            raise InvalidArgumentError(
                f"the model takes {channels}-channel images, and {'alpha' if alpha else repr(name)} "
                "exists for RGB only; use param='fft' (default) or 'pixel', without alpha"
            )
        if isinstance(param, ImageParam) and param.channels != channels:
            raise InvalidArgumentError(
                f"the given parameterization makes {param.channels}-channel images but the model takes "
                f"{channels}; build it with channels={channels}"
            )
        if isinstance(param, str):
            cls, kwargs = _BUILDS[param]
            build: Callable[..., ImageParam] = cls  # fft and pixel take (size, batch, seed, ...)
            return build(size, batch, seed, channels=channels, **kwargs)
    base = _make_rgb(param, size, batch, seed)
    if alpha and not isinstance(base, AlphaImage):
        return AlphaImage(base, seed)
    return base


def _make_rgb(
    param: str | ImageParam, size: tuple[int, int], batch: int, seed: int | Sequence[int]
) -> ImageParam:
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
    if isinstance(param, str) and param in _BUILDS:
        cls, kwargs = _BUILDS[param]
        build: Callable[..., ImageParam] = cls  # every subclass takes (size, batch, seed, ...)
        return build(size, batch, seed, **kwargs)
    names = ", ".join(repr(n) for n in PARAMS)
    raise InvalidArgumentError(
        f"unknown parameterization {param!r}; expected one of {names} or an ImageParam instance"
    )
