"""Images: tensors ↔ pictures, the one module that converts to and from 8 bits.

Images are ``(3, H, W)`` or ``(B, 3, H, W)`` float tensors in [0, 1]; conversion to 8 bits happens
here and nowhere else. Every image featviz reads — a user's photo, a folder of them — is decoded
here, and every picture it writes is encoded here (and written by :mod:`featviz.files`).
"""

from __future__ import annotations

import io as _io
import math
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from featviz.errors import InvalidArgumentError
from featviz.files import image_files, write_bytes


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


def resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (antialiased when shrinking)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    shrink = size[0] < images.shape[-2] or size[1] < images.shape[-1]
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] → uint8 in channels-last order (``HWC`` or ``BHWC``)."""
    images = images.detach().float().cpu().clamp(0, 1)
    return (images * 255).round().to(torch.uint8).movedim(-3, -1)


def quantized(images: torch.Tensor) -> torch.Tensor:
    """Float images rounded to 8-bit values, as a saved PNG holds them (float, [0, 1], on the CPU)."""
    return to_uint8(images).movedim(-1, -3).float() / 255


def to_pil(image: torch.Tensor, alpha: bool = True) -> Image.Image:
    """One ``(C, H, W)`` image in [0, 1] → a PIL image.

    3 channels are RGB; 4 are RGBA when ``alpha`` (a transparent render), else a model's own 4
    channels; 1 channel is a grey image. Any other count (and 4 without ``alpha``) becomes one
    grey picture with the channels side by side, left to right, 2 px apart: no channel is
    silently dropped or shown as colour it is not.
    """
    if image.dim() != 3 or image.shape[0] < 1:
        raise InvalidArgumentError(f"expected one (C, H, W) image, got shape {tuple(image.shape)}")
    channels = image.shape[0]
    if channels == 3 or (channels == 4 and alpha):
        return Image.fromarray(to_uint8(image).numpy(), mode="RGB" if channels == 3 else "RGBA")
    if channels == 1:
        return Image.fromarray(to_uint8(image)[..., 0].numpy(), mode="L")
    strip = grid(image[:, None], ncol=channels, padding=2)  # (1, H', W'): the channels in a row
    return Image.fromarray(to_uint8(strip)[..., 0].numpy(), mode="L")


def grid(
    images: torch.Tensor, ncol: int | None = None, padding: int = 2, background: float = 1.0
) -> torch.Tensor:
    """Tile ``(B, 3, H, W)`` images into one ``(3, H', W')`` image, row by row.

    Args:
        images: the batch.
        ncol: images per row (default: about square).
        padding: pixels between and around tiles.
        background: grey level of the padding.
    """
    if images.dim() != 4:
        raise InvalidArgumentError(f"expected a (B, 3, H, W) batch, got shape {tuple(images.shape)}")
    count, channels, height, width = images.shape
    ncol = ncol or math.ceil(math.sqrt(count))
    nrow = math.ceil(count / ncol)
    canvas = torch.full(
        (channels, nrow * (height + padding) + padding, ncol * (width + padding) + padding),
        background,
    )
    for index in range(count):
        row, col = divmod(index, ncol)
        top, left = padding + row * (height + padding), padding + col * (width + padding)
        canvas[:, top : top + height, left : left + width] = images[index].detach().float().cpu()
    return canvas


def png_bytes(image: Image.Image) -> bytes:
    """Encode a PIL image as PNG bytes."""
    buffer = _io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_image(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Write a PIL image atomically; the format follows the suffix (``.png`` if none).

    The image is encoded in memory first, so an image the format cannot hold fails before any file
    is touched, and only disk errors become a :class:`WriteError`.

    Returns:
        The path written.

    Raises:
        InvalidArgumentError: an unknown image suffix.
        WriteError: the file could not be written (full disk, no permission, ...).
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise InvalidArgumentError(
            f"cannot save {str(path)!r}: unknown image suffix {path.suffix!r}; use .png or .jpg"
        )
    buffer = _io.BytesIO()
    image.save(buffer, format=fmt)
    write_bytes(path, buffer.getvalue())
    return path


def _over_checkerboard(image: torch.Tensor, square: int = 8) -> torch.Tensor:
    """An RGBA ``(4, H, W)`` image composited over a grey checkerboard; RGB passes through."""
    if image.shape[0] != 4:
        return image
    height, width = image.shape[-2:]
    ys = torch.arange(height)[:, None] // square
    xs = torch.arange(width)[None, :] // square
    board = 0.73 + 0.2 * ((ys + xs) % 2).float()
    alpha = image[3:4].float()
    return image[:3].float() * alpha + board * (1 - alpha)


def labelled_grid(
    images: torch.Tensor, labels: list[str], ncol: int | None = None, padding: int = 4
) -> Image.Image:
    """Tile images with a text label under each one (e.g. channel number and score)."""
    from PIL import ImageDraw

    if images.dim() != 4 or images.shape[0] != len(labels):
        raise InvalidArgumentError(
            f"expected (B, 3, H, W) images and B labels, got shape {tuple(images.shape)} and "
            f"{len(labels)} labels"
        )
    count, _, height, width = images.shape
    ncol = ncol or math.ceil(math.sqrt(count))
    nrow = math.ceil(count / ncol)
    text_height = 14
    cell_w, cell_h = width + padding, height + text_height + padding
    canvas = Image.new("RGB", (ncol * cell_w + padding, nrow * cell_h + padding), "white")
    draw = ImageDraw.Draw(canvas)
    for index in range(count):
        row, col = divmod(index, ncol)
        left, top = padding + col * cell_w, padding + row * cell_h
        canvas.paste(to_pil(_over_checkerboard(images[index])), (left, top))
        draw.text((left + 2, top + height + 1), labels[index], fill=(0, 0, 0))
    return canvas


def load_images(images: object, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A user's image(s) → ``(B, 3, H, W)`` float in [0, 1], resized to cover ``size`` and
    center-cropped to it when given.

    Accepts a file path, a PIL image, a ``(3, H, W)`` / ``(B, 3, H, W)`` tensor in [0, 1]
    (or uint8 in [0, 255]), or a list of any of these.

    Raises:
        InvalidArgumentError: a missing file, an unreadable image, a tensor of another shape, or
            values outside [0, 1].
    """
    if isinstance(images, (list, tuple)):
        if not images:
            raise InvalidArgumentError("expected at least one image, got an empty list")
        return torch.cat([load_images(item, size) for item in images])
    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        if path.is_dir():
            raise InvalidArgumentError(
                f"{str(path)!r} is a folder, but one image file is expected here; pass a file in it"
            )
        if not path.is_file():
            raise InvalidArgumentError(f"image file {str(path)!r} does not exist")
        images = read_photo(path)
    if isinstance(images, Image.Image):
        images = torch.from_numpy(photo_array(images).copy()).permute(2, 0, 1)
    if not isinstance(images, torch.Tensor):
        raise InvalidArgumentError(
            f"expected an image path, a PIL image or a tensor, got {type(images).__name__}"
        )
    x = images.detach().cpu()
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or x.shape[1] != 3:
        raise InvalidArgumentError(
            f"expected an RGB image tensor (3, H, W) or (B, 3, H, W), got shape {tuple(images.shape)}"
        )
    if len(x) == 0:
        raise InvalidArgumentError(
            f"expected at least one image, got a tensor of shape {tuple(images.shape)}"
        )
    check_values(x)
    if size is None or tuple(x.shape[-2:]) == tuple(size):
        return x
    height, width = size
    h, w = x.shape[-2:]
    factor = max(height / h, width / w)
    new = (max(height, round(h * factor)), max(width, round(w * factor)))
    x = F.interpolate(x, size=new, mode="bilinear", align_corners=False, antialias=factor < 1).clamp(0, 1)
    top, left = (new[0] - height) // 2, (new[1] - width) // 2
    return x[..., top : top + height, left : left + width]


def check_values(images: torch.Tensor) -> torch.Tensor:
    """``images`` (float), after checking that every value is a finite number in [0, 1].

    Raises:
        InvalidArgumentError: NaN or infinite values, or values outside [0, 1].
    """
    if not torch.isfinite(images).all():
        raise InvalidArgumentError(
            f"image values must be finite numbers in [0, 1], got {int((~torch.isfinite(images)).sum())} "
            "NaN or infinite values; check how the tensor was made"
        )
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise InvalidArgumentError(
            f"image values must be in [0, 1] (or uint8), got "
            f"{float(images.min()):.3g}..{float(images.max()):.3g}"
        )
    return images


# What PIL's decoders raise for a damaged file: mostly OSError ("image file is truncated",
# UnidentifiedImageError), but some plugins raise SyntaxError, ValueError, EOFError or zlib.error.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, Image.DecompressionBombError)


#: What transparent pixels of a photo are composited over (white), before the model sees them.
BACKGROUND = (1.0, 1.0, 1.0)


def photo_array(image: Image.Image) -> np.ndarray:
    """A picture as a camera or scanner meant it: ``(H, W, 3)`` float32 in [0, 1].

    The one policy every writer reads photos by: the EXIF orientation is applied (a phone's
    portrait photo stands upright); 16-bit and 32-bit grey (``I;16``, ``I``) are scaled from their
    full range and floating-point grey (``F``) from [0, 1] (or 0..255 / 0..65535 when its values
    go past 1 / 255); transparency (RGBA, LA, a palette's transparent colour) is composited over
    :data:`BACKGROUND`; palette, CMYK, YCbCr, grey and bilevel pictures are converted to RGB.
    """
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        grey = np.asarray(image, dtype=np.float64)
        if image.mode == "F":
            peak = float(grey.max()) if grey.size else 0.0
            scale = 1.0 if peak <= 1 else 255.0 if peak <= 255 else 65535.0
        else:
            scale = 65535.0 if image.mode.startswith("I;16") or float(grey.max(initial=0)) > 255 else 255.0
        grey = np.clip(grey / scale, 0, 1).astype(np.float32)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
        alpha = rgba[..., 3:]
        return rgba[..., :3] * alpha + np.asarray(BACKGROUND, dtype=np.float32) * (1 - alpha)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255


def _read_rgb(path: Path) -> np.ndarray:
    """An image file as an ``(H, W, 3)`` float32 array in [0, 1] (:func:`photo_array`); a damaged
    file names itself."""
    try:
        with Image.open(path) as opened:
            return photo_array(opened)
    except _DECODE_ERRORS as error:
        raise InvalidArgumentError(
            f"cannot read {str(path)!r} as an image ({type(error).__name__}: {error}); "
            "replace or remove the file"
        ) from error


def read_photo(path: str | os.PathLike[str]) -> torch.Tensor:
    """One image file as ``(3, H, W)`` float in [0, 1]; a damaged file names itself.

    Raises:
        InvalidArgumentError: the file cannot be read as an image.
    """
    return torch.from_numpy(_read_rgb(Path(path))).permute(2, 0, 1)


def load_folder(
    folder: str | os.PathLike[str], size: int | tuple[int, int]
) -> tuple[list[Path], torch.Tensor]:
    """The images of a folder at ``size``, read as :func:`load_images` reads one (resized to cover
    ``size``, center-cropped: the one policy of every writer).

    Example::

        paths, images = load_folder("photos", (224, 224))  # images: (len(paths), 3, 224, 224)

    Args:
        folder: searched recursively, see :func:`image_files`.
        size: ``(height, width)``, or one int for a square.

    Returns:
        The files in sorted order, and their ``(N, 3, height, width)`` float images in [0, 1].

    Raises:
        InvalidArgumentError: the folder is missing or holds no images, or an image cannot be read.
    """
    paths = image_files(folder)
    return paths, load_paths(paths, size)


def load_paths(paths: list[Path], size: int | tuple[int, int]) -> torch.Tensor:
    """These image files at ``size``, as in :func:`load_folder` (which reads a whole folder; this
    reads a part of one, to keep memory bounded).

    Returns:
        ``(len(paths), 3, height, width)`` float images in [0, 1].

    Raises:
        InvalidArgumentError: an image cannot be read.
    """
    return load_images(list(paths), normalize_size(size))
