"""Disk and display: the one module that turns tensors into PIL images and files, and back.

Images are ``(3, H, W)`` or ``(B, 3, H, W)`` float tensors in [0, 1]; conversion to 8 bits
happens here and nowhere else. Files are written atomically (to a temporary name, then renamed), so
an interrupted program never leaves a half-written image; they get the permissions a plain
``open(path, "w")`` would give (``0o666`` less the umask). Every image file featviz reads, one by
one or a folder at a time (:func:`image_files`, :func:`load_folder`), is read here too.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import math
import os
import secrets
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from featviz.errors import FolderBusyError, InvalidArgumentError, WriteError

#: The file suffixes (compared in lower case) that count as images when reading a folder.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


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


# Plain os.open with O_EXCL and mode 0o666, not tempfile.mkstemp (which forces 0o600): the kernel
# then applies the umask (and a folder's default ACL) itself, exactly as for open(path, "w").
# The umask is never read, so there is no os.umask() set-and-restore that would briefly change it
# for other threads, no /proc parsing, and no cached value that goes stale if the program changes it.
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    The temporary file is removed on any exception, KeyboardInterrupt included; an OSError
    (a full disk, a read-only folder) becomes a :class:`WriteError` naming ``path``.
    """
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            try:
                fd = os.open(candidate, _TEMP_FLAGS, 0o666)
            except FileExistsError:
                continue
            tmp = candidate
            break
        else:
            raise FileExistsError(f"no free temporary name beside {str(path)!r}")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, WriteError):
            raise _write_error(path, error) from error
        raise


def _write_error(path: Path, error: OSError) -> WriteError:
    """A WriteError that keeps the OSError's ``errno`` and ``strerror``, so callers can test them."""
    reason = error.strerror or str(error)
    wrapped = WriteError(
        f"could not write {str(path)!r}: {reason}. The file was not written; free some disk space "
        "or choose another output folder."
    )
    wrapped.errno, wrapped.strerror, wrapped.filename = error.errno, error.strerror, str(path)
    return wrapped


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
    _write_atomic(path, buffer.getvalue())
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


@contextmanager
def folder_lock(folder: Path, name: str, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/name`` for the ``with`` block, or refuse at once.

    The lock is the operating system's (``flock``): it ends with the process, also after
    ``kill -9``, so a stopped run never leaves a stale lock. Where ``flock`` does not exist
    (Windows) the block runs unlocked.

    Raises:
        FolderBusyError: another process holds the lock (its pid is in the message).
        WriteError: the folder or the lock file cannot be created.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = folder / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the block
    except OSError as error:
        raise _write_error(path, error) from error
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise FolderBusyError(
                f"{str(folder)!r} is being written by {holder} ({what}); wait for it to finish, or "
                "use another folder. Once it ends (or is stopped), the same command resumes there."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"featviz pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write a UTF-8 text file atomically.

    Returns:
        The path written.

    Raises:
        WriteError: the file could not be written (full disk, no permission, ...).
    """
    path = Path(path)
    _write_atomic(path, text.encode("utf-8"))
    return path


def read_json(path: str | os.PathLike[str]) -> Any:  # noqa: ANN401 - whatever the file holds
    """The JSON a file holds, or None when it is missing or unreadable (a file being written by
    another process, or one left half-written by a crash, counts as missing)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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
        if not path.is_file():
            raise InvalidArgumentError(f"image file {str(path)!r} does not exist")
        images = read_photo(path)
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


# What PIL's decoders raise for a damaged file: mostly OSError ("image file is truncated",
# UnidentifiedImageError), but some plugins raise SyntaxError, ValueError, EOFError or zlib.error.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, Image.DecompressionBombError)


def _read_rgb(path: Path) -> np.ndarray:
    """An image file as an ``(H, W, 3)`` float32 array in [0, 1]; a damaged file names itself."""
    try:
        with Image.open(path) as opened:
            return np.asarray(opened.convert("RGB"), dtype=np.float32) / 255
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


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files under ``folder``, searched recursively, in sorted order.

    A file counts as an image when its suffix, in any case, is in :data:`IMAGE_SUFFIXES`; other
    files are ignored.

    Example::

        image_files("photos")  # [Path('photos/a.jpg'), Path('photos/trips/b.PNG'), ...]

    Raises:
        InvalidArgumentError: ``folder`` is missing, is not a folder, or holds no images.
    """
    folder = Path(folder)
    suffixes = "/".join(IMAGE_SUFFIXES)
    if not folder.exists():
        raise InvalidArgumentError(
            f"{str(folder)!r} is not a folder: it does not exist; pass a folder of {suffixes} images"
        )
    if not folder.is_dir():
        raise InvalidArgumentError(
            f"{str(folder)!r} is not a folder but a file; pass the folder that holds the images"
        )
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InvalidArgumentError(
            f"no {suffixes} images in {str(folder)!r} or its subfolders; add images there or pass "
            "another folder"
        )
    return files


def load_folder(
    folder: str | os.PathLike[str], size: int | tuple[int, int]
) -> tuple[list[Path], torch.Tensor]:
    """The images of a folder as center squares resized to ``size``.

    Each image's largest centered square is resized (bilinear, antialiased) to ``size``; a
    non-square ``size`` stretches it.

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
    """These image files as center squares resized to ``size``, as in :func:`load_folder` (which
    reads a whole folder; this reads a part of one, to keep memory bounded).

    Returns:
        ``(len(paths), 3, height, width)`` float images in [0, 1].

    Raises:
        InvalidArgumentError: an image cannot be read.
    """
    size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    tensors = []
    for path in paths:
        x = read_photo(path)
        h, w = x.shape[-2:]
        s = min(h, w)
        x = x[:, (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        tensors.append(F.interpolate(x[None], size=size, mode="bilinear", antialias=True)[0])
    return torch.stack(tensors)
