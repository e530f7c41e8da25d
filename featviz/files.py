"""Files: the one place featviz writes to disk, locks folders and finds image files.

Files are written atomically (to a temporary name, then renamed), so an interrupted program never
leaves a half-written file; they get the permissions a plain ``open(path, "w")`` would give
(``0o666`` less the umask). Folders are locked with the operating system's ``flock``, so a stopped
run never leaves a stale lock. Images are encoded and decoded in :mod:`featviz.imaging`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from featviz.errors import FolderBusyError, InvalidArgumentError, WriteError

#: The file suffixes (compared in lower case) that count as images when reading a folder.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


# Plain os.open with O_EXCL and mode 0o666, not tempfile.mkstemp (which forces 0o600): the kernel
# then applies the umask (and a folder's default ACL) itself, exactly as for open(path, "w").
# The umask is never read, so there is no os.umask() set-and-restore that would briefly change it
# for other threads, no /proc parsing, and no cached value that goes stale if the program changes it.
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def write_bytes(path: Path, data: bytes) -> None:
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
            raise write_error(path, error) from error
        raise


def write_error(path: Path, error: OSError) -> WriteError:
    """A WriteError that keeps the OSError's ``errno`` and ``strerror``, so callers can test them."""
    reason = error.strerror or str(error)
    wrapped = WriteError(
        f"could not write {str(path)!r}: {reason}. The file was not written; free some disk space "
        "or choose another output folder."
    )
    wrapped.errno, wrapped.strerror, wrapped.filename = error.errno, error.strerror, str(path)
    return wrapped


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
        raise write_error(path, error) from error
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
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"featviz pid {os.getpid()}")
            handle.flush()
        except OSError as error:  # e.g. a full disk: a featviz error naming the lock file
            raise write_error(path, error) from error
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
    write_bytes(path, text.encode("utf-8"))
    return path


def read_json(path: str | os.PathLike[str]) -> Any:  # noqa: ANN401 - whatever the file holds
    """The JSON a file holds, or None when it is missing or unreadable (a file being written by
    another process, or one left half-written by a crash, counts as missing)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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


def cache_dir() -> Path:
    """Where featviz keeps renders and small measurements: ``$FEATVIZ_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/featviz``, else ``~/.cache/featviz``."""
    if os.environ.get("FEATVIZ_CACHE_DIR"):
        return Path(os.environ["FEATVIZ_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "featviz"


def finite(value: float | None) -> float | None:
    """``value``, or None when it is NaN or infinite: the one NaN policy of every record."""
    return value if value is not None and math.isfinite(value) else None


def plain(value: object) -> Any:  # noqa: ANN401 - JSON data
    """``value`` with every float that is not finite replaced by None (:func:`finite`), recursively;
    tuples become lists."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def write_json(data: object, path: str | os.PathLike[str], indent: int = 1) -> Path:
    """Write ``data`` as valid JSON (:func:`plain`: non-finite numbers as null) atomically.

    Raises:
        WriteError: the file could not be written.
    """
    return write_text(json.dumps(plain(data), indent=indent, allow_nan=False), path)


def fingerprint(paths: list[Path], root: str | os.PathLike[str]) -> str:
    """A short hash of files' names (below ``root``) and contents: the same for the same photos."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(root)).encode("utf-8", "surrogateescape"))
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]
