"""The target grammar: table-driven cases and a fuzz test."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featviz.errors import FeatvizError, TargetSyntaxError
from featviz.targets import Target, parse_channels, parse_target

VALID = [
    ("layer4", Target("layer4"), "layer"),
    ("blocks.5.mlp.fc1:10@cls", Target("blocks.5.mlp.fc1", 10, "cls"), "cls"),
    ("blocks.5.attn:h2", Target("blocks.5.attn", head=2), "head"),
    ("layer4:12", Target("layer4", 12), "channel"),
    ("blocks.4.1:7", Target("blocks.4.1", 7), "channel"),
    ("output:207", Target("output", 207), "channel"),
    ("input", Target("input"), "layer"),
    ("layer4:12@center", Target("layer4", 12, "center"), "neuron"),
    ("layer4:12@3,5", Target("layer4", 12, (3, 5)), "neuron"),
    ("  layer4:0  ", Target("layer4", 0), "channel"),
    ("features.10:3", Target("features.10", 3), "channel"),
    ("stage-1.conv_a:2", Target("stage-1.conv_a", 2), "channel"),
]

INVALID = [
    "",
    "blocks.5.attn:h",
    "blocks.5.attn:h2@cls",
    "layer4:3@token",
    "   ",
    ":3",
    "layer4:",
    "layer4:-1",
    "layer4:1.5",
    "layer4:x",
    "layer4:1:2",
    "layer4:1@",
    "layer4:1@3",
    "layer4:1@3,",
    "layer4:1@a,b",
    "layer4@center",
    "layer4.",
    ".layer4",
    "layer4..1",
    "layer 4:1",
    "layer4:99999999999",
    "layer4:1@centre",
    "a:1@1,2,3",
]


@pytest.mark.parametrize(("text", "expected", "kind"), VALID)
def test_valid_targets_parse(text: str, expected: Target, kind: str) -> None:
    target = parse_target(text)
    assert target == expected
    assert target.kind == kind
    assert parse_target(str(target)) == target  # the canonical spelling round-trips


@pytest.mark.parametrize("text", INVALID)
def test_invalid_targets_raise_with_grammar(text: str) -> None:
    with pytest.raises(TargetSyntaxError) as info:
        parse_target(text)
    assert isinstance(info.value, ValueError)
    assert repr(text) in str(info.value) or "larger than" in str(info.value)


def test_non_string_target_is_a_featviz_error() -> None:
    with pytest.raises(TargetSyntaxError, match="must be a string"):
        parse_target(12)  # type: ignore[arg-type]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(), max_size=30))
def test_any_string_parses_or_raises_a_featviz_error(text: str) -> None:
    try:
        target = parse_target(text)
    except FeatvizError:
        return
    assert parse_target(str(target)) == target


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab0123456789.:@,_ centr-", max_size=20))
def test_grammar_alphabet_parses_or_raises_a_featviz_error(text: str) -> None:
    with contextlib.suppress(FeatvizError):
        parse_target(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0:4", [0, 1, 2, 3]), ("3,7,9", [3, 7, 9]), ("0:2,10", [0, 1, 10]), (" 5 ", [5])],
)
def test_channel_lists(text: str, expected: list[int]) -> None:
    assert parse_channels(text) == expected


@pytest.mark.parametrize("text", ["", "a", "3:1", "1:2:3", "-1", "1,,2", "²"])
def test_bad_channel_lists(text: str) -> None:
    with pytest.raises(TargetSyntaxError):
        parse_channels(text)


def test_parser_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, featviz.targets; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
