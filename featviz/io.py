"""Disk and display: the one module that turns tensors into PIL images and files.

Images are ``(3, H, W)`` or ``(B, 3, H, W)`` float tensors in [0, 1]; conversion to 8 bits
happens here and nowhere else. Files are written atomically (to a temporary name, then renamed), so
an interrupted program never leaves a half-written image.
"""

from __future__ import annotations

import io as _io
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from featviz.errors import InvalidArgumentError


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] → uint8 in channels-last order (``HWC`` or ``BHWC``)."""
    images = images.detach().float().cpu().clamp(0, 1)
    return (images * 255).round().to(torch.uint8).movedim(-3, -1)


def to_pil(image: torch.Tensor) -> Image.Image:
    """One ``(3, H, W)`` (RGB) or ``(4, H, W)`` (RGBA) image in [0, 1] → a PIL image."""
    if image.dim() != 3 or image.shape[0] not in (3, 4):
        raise InvalidArgumentError(
            f"expected one (3, H, W) or (4, H, W) image, got shape {tuple(image.shape)}"
        )
    return Image.fromarray(to_uint8(image).numpy(), mode="RGB" if image.shape[0] == 3 else "RGBA")


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


@contextmanager
def _atomic(path: Path, binary: bool) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_image(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Write a PIL image atomically; the format follows the suffix (``.png`` if none).

    Returns:
        The path written.
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise InvalidArgumentError(
            f"cannot save {str(path)!r}: unknown image suffix {path.suffix!r}; use .png or .jpg"
        )
    with _atomic(path, binary=True) as handle:
        image.save(handle, format=fmt)
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


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write a UTF-8 text file atomically."""
    path = Path(path)
    with _atomic(path, binary=False) as handle:
        handle.write(text)
    return path


def load_images(images: object, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A user's image(s) → ``(B, 3, H, W)`` float in [0, 1], resized to cover ``size`` and
    center-cropped to it when given.

    Accepts a file path, a PIL image, a ``(3, H, W)`` / ``(B, 3, H, W)`` tensor in [0, 1]
    (or uint8 in [0, 255]), or a list of any of these.

    Raises:
        InvalidArgumentError: a missing file, an unreadable image, or a tensor of another shape.
    """
    if isinstance(images, (list, tuple)):
        if not images:
            raise InvalidArgumentError("expected at least one image, got an empty list")
        return torch.cat([load_images(item, size) for item in images])
    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        if not path.is_file():
            raise InvalidArgumentError(f"image file {str(path)!r} does not exist")
        try:
            with Image.open(path) as opened:
                images = opened.convert("RGB")
        except OSError as error:
            raise InvalidArgumentError(f"cannot read {str(path)!r} as an image: {error}") from error
    if isinstance(images, Image.Image):
        array = np.asarray(images.convert("RGB"), dtype=np.float32) / 255
        images = torch.from_numpy(array.copy()).permute(2, 0, 1)
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
    if x.min() < 0 or x.max() > 1:
        raise InvalidArgumentError(
            f"image values must be in [0, 1] (or uint8), got {float(x.min()):.3g}..{float(x.max()):.3g}"
        )
    if size is None or tuple(x.shape[-2:]) == tuple(size):
        return x
    height, width = size
    h, w = x.shape[-2:]
    factor = max(height / h, width / w)
    new = (max(height, round(h * factor)), max(width, round(w * factor)))
    x = F.interpolate(x, size=new, mode="bilinear", align_corners=False, antialias=factor < 1).clamp(0, 1)
    top, left = (new[0] - height) // 2, (new[1] - width) // 2
    return x[..., top : top + height, left : left + width]
