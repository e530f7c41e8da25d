"""The report frame: what every report shares, in one place.

- **The record**: :func:`provenance` (featviz, torch and model versions, settings, time: one
  block, the same in every report's JSON), :func:`write_record` (valid JSON, atomic, with the one
  NaN policy of :func:`featviz.files.plain`: a value that is not finite is written as ``null``),
  :func:`number` (rounded, or None).
- :class:`Report`: ``save(folder)`` (under the folder's lock), ``to_dict()`` and the notebook
  view ``_repr_html_()``, each report naming its page module.
- :func:`retire_page`: a folder's page removed before its files change (never a stale page).
- :func:`claim`: one run per folder — a second run on a folder being written is refused naming
  the process (an ``flock``, released with the process, also after ``kill -9``); claims nest
  within a process, so a command that claims its folder can then ``save`` into it.
- :func:`check_count`, :func:`check_folder`: arguments checked before any work.
- :func:`interrupted`: the one message and exit status (130) after Ctrl-C.
- :func:`progress`: the one progress bar (tqdm).
- :func:`photo_source`: the one way a report reads many photos (a folder or a tensor), a few at a time.
- :func:`distributed`: the rank, world size and device under ``torchrun``.

Resume is by what a run keeps: renders in the render cache (explanation, activation atlas,
diagnosis) or finished units in the folder (atlases), so a killed run redoes only what is missing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from featviz import files
from featviz.errors import InvalidArgumentError
from featviz.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from featviz.model.prepared import Prepared

#: The lock file each report holds in its folder while it writes there.
LOCK = ".featviz.lock"

_claimed: set[Path] = set()

#: Largest render side a report accepts (a 4096-px render is 200 MB of activations per image).
MAX_SIDE = 4096


def number(value: object, digits: int = 5) -> float | None:
    """A float rounded to ``digits``, or None when it is NaN or infinite (JSON has neither)."""
    finite = files.finite(float(value))  # type: ignore[arg-type]
    return None if finite is None else round(finite, digits)


def provenance(model: str, settings: Mapping[str, Any], fingerprint: str | None = None) -> dict[str, Any]:
    """The provenance block of every record: who made it, from what, with which settings, when.

    Args:
        model: the model's name.
        settings: the settings that made the report.
        fingerprint: the model's weights fingerprint (:func:`featviz.rendering.cache.model_fingerprint`).
    """
    import torch

    return {
        "featviz": __version__,
        "torch": torch.__version__,
        "model": model,
        "model_fingerprint": fingerprint,
        "settings": files.plain(dict(settings)),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_record(record: Mapping[str, Any], path: Path, indent: int = 1) -> Path:
    """Write ``record`` as JSON (non-finite floats as null) atomically; returns the path.

    Raises:
        WriteError: the file could not be written.
    """
    return files.write_json(record, path, indent)


@contextmanager
def claim(folder: str | os.PathLike[str], what: str) -> Iterator[Path]:
    """Hold ``folder`` for one run (see the module docstring); yields the folder's path. A folder
    the claim made and the run left empty (a command that failed its checks) is removed again.

    Raises:
        FolderBusyError: another process is writing there.
        WriteError: the folder cannot be created.
    """
    path = Path(folder)
    key = path.resolve()
    if key in _claimed:
        yield path
        return
    created = not path.exists()
    with files.folder_lock(path, LOCK, what):
        _claimed.add(key)
        try:
            yield path
        finally:
            _claimed.discard(key)
            if created and {p.name for p in path.iterdir()} == {LOCK}:  # a run that wrote nothing
                (path / LOCK).unlink()
                path.rmdir()


class Report:
    """What every report's result offers: ``save``, ``to_dict`` and a notebook view.

    A report names its page module in ``_page``; that module provides
    ``write_report(report, out) -> Path`` (the page, pictures and JSON record),
    ``numbers(report) -> dict`` and ``notebook_html(report) -> str``.
    """

    #: What the folder lock names while the report is being written (e.g. "an explanation").
    _what = "a featviz report"
    #: The report's page module (see the class docstring).
    _page: ModuleType

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write the report (its page, pictures and JSON record) into ``out_dir``; returns its page.

        Raises:
            FolderBusyError: another run is writing into ``out_dir``.
            WriteError: a file could not be written.
        """
        with claim(out_dir, self._what) as out:
            retire_page(out)
            return self._page.write_report(self, out)

    def to_dict(self) -> dict[str, Any]:
        """The report's numbers as plain JSON data (no images; non-finite values as None)."""
        return files.plain(self._page.numbers(self))

    def _repr_html_(self) -> str:
        return self._page.notebook_html(self)


def retire_page(folder: Path, page: str = "index.html") -> None:
    """Remove a folder's page before its files change, so that Ctrl-C part way never leaves an old
    page that looks current over new files: the folder then has the previous complete page, or
    none until the run that changes it finishes (and a rerun resumes).

    Raises:
        WriteError: the page cannot be removed.
    """
    try:
        (folder / page).unlink(missing_ok=True)
    except OSError as error:
        raise files.write_error(folder / page, error) from error


def check_count(name: str, value: object, low: int = 1, high: int | None = None) -> None:
    """Check a count argument before any work: an int in ``low..high`` (None: no upper bound).

    Raises:
        InvalidArgumentError: anything else, naming the argument, the value and the range.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        kind = "a positive int" if low == 1 else f"an int >= {low}"
        bound = f" (at most {high})" if high is not None else ""
        raise InvalidArgumentError(f"{name} must be {kind}{bound}, got {value!r}")


def check_size(size: object) -> None:
    """Check a render size before any work: a positive int, or ``(height, width)`` of them.

    Raises:
        InvalidArgumentError: anything else.
    """
    sides = list(size) if isinstance(size, (tuple, list)) else [size]
    if len(sides) not in (1, 2):
        raise InvalidArgumentError(f"size must be N or (height, width), got {size!r}")
    for side in sides:
        check_count("size", side, 1, MAX_SIDE)


def check_folder(folder: str | os.PathLike[str] | None, what: str) -> None:
    """Check before any work that ``folder`` (when given) holds images.

    Raises:
        InvalidArgumentError: it is missing, not a folder, or holds no images
            (:func:`featviz.files.image_files`).
    """
    if folder is not None:
        try:
            files.image_files(folder)
        except InvalidArgumentError as error:
            raise InvalidArgumentError(f"{what}: {error}") from None


def interrupted(kept: str, after: str = "") -> int:
    """Say on stderr that Ctrl-C stopped the work (``after`` how much was done) and what it left
    (``kept``: what is kept and how to resume); returns the exit status 130."""
    print(f"featviz: interrupted{' ' + after if after else ''}; {kept}", file=sys.stderr)
    return 130


def photo_source(prepared: Prepared, photos: object) -> tuple[list[str], Callable[[int, int], torch.Tensor]]:
    """The photos' names (paths relative to the folder, or ``"image <i>"``) and a function loading
    photos ``[i, j)`` at the model's input size, from a folder or an ``(N, 3, H, W)`` tensor in
    [0, 1] — how every report that reads many photos reads them, a few at a time.

    Raises:
        InvalidArgumentError: anything else, a tensor of the wrong shape or values, or a folder
            with no images.
    """
    import torch

    from featviz import imaging

    size = prepared.default_size
    if isinstance(photos, torch.Tensor):
        if photos.dim() != 4 or photos.shape[1] not in (1, 3) or len(photos) == 0:
            raise InvalidArgumentError(
                f"photos as a tensor must be (N, 3, H, W) in [0, 1] with N >= 1, got {tuple(photos.shape)}"
            )
        images = imaging.check_values(photos.float())
        if tuple(images.shape[-2:]) != tuple(size):
            images = torch.nn.functional.interpolate(images, size=size, mode="bilinear", antialias=True)
        return [f"image {i}" for i in range(len(images))], lambda i, j: images[i:j]
    if isinstance(photos, (str, os.PathLike)):
        paths = files.image_files(photos)
        return [str(p.relative_to(photos)) for p in paths], lambda i, j: imaging.load_paths(paths[i:j], size)
    raise InvalidArgumentError(
        f"photos must be a folder or an (N, 3, H, W) tensor, got {type(photos).__name__}"
    )


def progress(total: int | None, desc: str, enabled: bool = True, unit: str = "it", **kwargs: Any) -> tqdm:  # noqa: ANN401
    """The progress bar every report draws (tqdm; nothing when ``enabled`` is False)."""
    return tqdm(total=total, disable=not enabled, desc=desc, unit=unit, **kwargs)


def distributed(device: torch.device | str | None) -> tuple[int, int, torch.device | str | None, bool]:
    """(rank, world size, device, whether we created the process group) — from torchrun's
    environment when present; a process group the caller made is used and left alone. Outside
    torchrun the device is the caller's (None: as :func:`featviz.prepare` decides)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device, False
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local)
        return dist.get_rank(), world, torch.device("cuda", local), owned
    return dist.get_rank(), world, torch.device("cpu"), owned


def under_torchrun() -> bool:
    """Whether this process is one of several started by torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1
