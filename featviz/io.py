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

import torch
from PIL import Image

from featviz.errors import InvalidArgumentError


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] → uint8 in channels-last order (``HWC`` or ``BHWC``)."""
    images = images.detach().float().cpu().clamp(0, 1)
    return (images * 255).round().to(torch.uint8).movedim(-3, -1)


def to_pil(image: torch.Tensor) -> Image.Image:
    """One ``(3, H, W)`` image in [0, 1] → a PIL RGB image."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise InvalidArgumentError(f"expected one (3, H, W) image, got shape {tuple(image.shape)}")
    return Image.fromarray(to_uint8(image).numpy(), mode="RGB")


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
        canvas.paste(to_pil(images[index]), (left, top))
        draw.text((left + 2, top + height + 1), labels[index], fill=(0, 0, 0))
    return canvas


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write a UTF-8 text file atomically."""
    path = Path(path)
    with _atomic(path, binary=False) as handle:
        handle.write(text)
    return path
