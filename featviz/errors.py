"""The featviz exception hierarchy.

Every error featviz raises on purpose is a :class:`FeatvizError`. Subclasses also inherit the
matching built-in exception, so ``except KeyError`` around a layer lookup keeps working. Each
message says what was given, what was expected and how to fix it.
"""

from __future__ import annotations


class FeatvizError(Exception):
    """Base class of every error featviz raises on purpose."""

    def __str__(self) -> str:
        # KeyError.__str__ would wrap the message in quotes; show it as written.
        return str(self.args[0]) if self.args else ""


class TargetSyntaxError(FeatvizError, ValueError):
    """A target string such as ``"layer4:12"`` could not be parsed."""


class LayerNotFoundError(FeatvizError, KeyError):
    """A target names a layer that the model does not have."""


class ChannelOutOfRangeError(FeatvizError, IndexError):
    """A channel or spatial position lies outside the layer's output."""


class InvalidArgumentError(FeatvizError, ValueError):
    """An argument has a value or type featviz cannot use."""


class ModelLoadError(FeatvizError, RuntimeError):
    """A model could not be built or its weights could not be loaded."""


class NonFiniteError(FeatvizError, FloatingPointError):
    """The objective or the image became NaN or infinite and could not be recovered."""


class DeviceError(InvalidArgumentError):
    """A device was asked for that this machine does not have (e.g. ``"cuda"`` without a GPU)."""


class AtlasSettingsError(InvalidArgumentError):
    """An output folder holds work made with other settings."""


class WriteError(FeatvizError, OSError):
    """A file could not be written (a full disk, a read-only folder, ...); nothing was left behind.

    The message names the file and the operating system's reason; ``errno``, ``strerror`` and
    ``filename`` are those of the underlying OSError, so ``except OSError`` and errno checks such
    as ``error.errno == errno.ENOSPC`` keep working.
    """


class LayoutError(InvalidArgumentError):
    """A layer's layout could not be decided, or a given layout does not fit its output."""


class FolderBusyError(FeatvizError, RuntimeError):
    """Another featviz run is writing the same output folder (an atlas being rendered)."""
