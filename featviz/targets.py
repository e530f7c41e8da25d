"""The target grammar: the one place where strings like ``"layer4:12"`` are parsed.

Grammar::

    target   := layer [ ":" channel [ "@" position ] ]
    layer    := "input" | "output" | dotted module path, exactly as model.named_modules() spells it
    channel  := a non-negative integer
    position := "center" | "cls" | row "," column  (non-negative integers)
    or       := layer ":h" head                    (an attention module's head)

Examples:

    ``"layer4"``            the whole layer (DeepDream: mean squared activation)
    ``"layer4:12"``         channel 12, averaged over all positions
    ``"layer4:12@center"``  one neuron: channel 12 at the spatial center
    ``"layer4:12@3,5"``     one neuron: channel 12 at row 3, column 5
    ``"blocks.5.mlp.fc1:10@cls"``  channel 10 of a transformer layer at the class token
    ``"blocks.5.mlp.fc1:10@3,4"``  ... at the patch token in row 3, column 4 of the patch grid
    ``"blocks.5.attn:h2"``  head 2 of an attention module: the norm of its output per patch token
    ``"output:207"``        class logit 207 (``output`` is the model's output)
    ``"input"``             the image itself (for penalties such as total variation)

This module imports nothing heavy, so parsing never needs torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from featviz.errors import TargetSyntaxError

INPUT = "input"
OUTPUT = "output"
#: The key under which the per-head outputs of attention module ``L`` are recorded: ``L + HEADS``.
HEADS = "#heads"

GRAMMAR = (
    "a target is LAYER, LAYER:CHANNEL, LAYER:CHANNEL@center, LAYER:CHANNEL@cls (a transformer's "
    "class token), LAYER:CHANNEL@ROW,COL or LAYER:hHEAD (a head of an attention module), where "
    "LAYER is a dotted module path as in model.named_modules() (or 'input' / 'output') and "
    "CHANNEL, ROW, COL are non-negative integers; e.g. 'layer4', 'layer4:12', 'output:207', "
    "'layer4:12@center', 'layer4:12@3,5'"
)

_SEGMENT = r"[A-Za-z0-9_\-]+"
_TARGET = re.compile(
    rf"""
    (?P<layer>{_SEGMENT}(?:\.{_SEGMENT})*)
    (?: :(?: h(?P<head>[0-9]+) | (?P<channel>[0-9]+)
        (?: @(?: (?P<center>center) | (?P<cls>cls) | (?P<row>[0-9]+),(?P<col>[0-9]+) ) )? )
    )?
    """,
    re.VERBOSE,
)
_CHANNELS = re.compile(r"(?P<start>[0-9]{1,9})(?::(?P<stop>[0-9]{1,9}))?")
_MAX_INDEX = 2**31 - 1


@dataclass(frozen=True)
class Target:
    """A parsed target: a layer, optionally one channel, optionally one spatial position.

    Attributes:
        layer: dotted module path, or ``"input"`` / ``"output"``.
        channel: channel index, or ``None`` for the whole layer.
        position: ``(row, col)``, ``"center"``, ``"cls"`` (the class token), or ``None`` for
            the channel mean.
        head: with an attention module as ``layer``: the head (then ``channel`` is None).
    """

    layer: str
    channel: int | None = None
    position: tuple[int, int] | str | None = None
    head: int | None = None

    @property
    def kind(self) -> str:
        """``"layer"``, ``"channel"``, ``"neuron"``, ``"cls"`` (a channel at the class token) or
        ``"head"`` (an attention head)."""
        if self.head is not None:
            return "head"
        if self.channel is None:
            return "layer"
        if self.position == "cls":
            return "cls"
        return "channel" if self.position is None else "neuron"

    def __str__(self) -> str:
        text = self.layer
        if self.head is not None:
            return f"{text}:h{self.head}"
        if self.channel is not None:
            text += f":{self.channel}"
        if self.position in ("center", "cls"):
            text += f"@{self.position}"
        elif isinstance(self.position, tuple):
            text += f"@{self.position[0]},{self.position[1]}"
        return text


def parse_target(text: str | Target) -> Target:
    """Parse a target string into a :class:`Target`.

    Example:
        >>> parse_target("blocks.4:12")
        Target(layer='blocks.4', channel=12, position=None)
        >>> str(parse_target(" layer4:3@center "))
        'layer4:3@center'

    Args:
        text: the target string (surrounding whitespace is ignored), or a Target.

    Returns:
        The parsed Target.

    Raises:
        TargetSyntaxError: the text does not follow the grammar (the message quotes it).
    """
    if isinstance(text, Target):
        return text
    if not isinstance(text, str):
        raise TargetSyntaxError(f"a target must be a string, got {type(text).__name__} {text!r}; {GRAMMAR}")
    stripped = text.strip()
    match = _TARGET.fullmatch(stripped)
    if match is None:
        raise TargetSyntaxError(f"cannot parse target {text!r}: {GRAMMAR}")
    numbers = [match[name] for name in ("channel", "row", "col", "head") if match[name] is not None]
    if any(int(n) > _MAX_INDEX for n in numbers):
        raise TargetSyntaxError(f"target {text!r} has an index larger than {_MAX_INDEX}")
    channel = None if match["channel"] is None else int(match["channel"])
    position: tuple[int, int] | str | None = None
    if match["center"] or match["cls"]:
        position = match["center"] or match["cls"]
    elif match["row"] is not None:
        position = (int(match["row"]), int(match["col"]))
    head = None if match["head"] is None else int(match["head"])
    return Target(match["layer"], channel, position, head)


def parse_channels(text: str) -> list[int]:
    """Parse a channel selection such as ``"0:64"``, ``"3,7,9"`` or ``"0:8,12"``.

    ``a:b`` is the half-open range a, a+1, ..., b-1 (as in Python slices).

    Raises:
        TargetSyntaxError: the text is not a comma-separated list of integers and ranges.
    """
    channels: list[int] = []
    hint = "expected comma-separated integers and START:STOP ranges, e.g. '0:64' or '3,7,9'"
    for part in text.split(","):
        part = part.strip()
        match = _CHANNELS.fullmatch(part)
        if match is None:
            raise TargetSyntaxError(f"cannot parse channels {text!r}: {hint}")
        if match["stop"] is None:
            channels.append(int(match["start"]))
        else:
            start, stop = int(match["start"]), int(match["stop"])
            if stop <= start:
                raise TargetSyntaxError(f"empty channel range {part!r} in {text!r}: {hint}")
            channels.extend(range(start, stop))
    return channels
