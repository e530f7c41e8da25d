"""The render options table: one home for every default, read by render, the CLI and atlases."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import featviz
from featviz import options
from featviz.cli import build_parser
from featviz.errors import InvalidArgumentError


def test_render_signature_and_docstring_come_from_the_table() -> None:
    parameters = inspect.signature(featviz.render).parameters
    doc = " ".join(featviz.render.__doc__.split())  # unwrapped
    for option in options.OPTIONS:
        assert parameters[option.name].default == option.default
        assert f"{option.name}: {option.help}" in doc


def test_cli_flags_and_defaults_come_from_the_table() -> None:
    parser = build_parser()
    args = parser.parse_args(["render", "efficientnet_lite0", "blocks.4:12"])
    for option in options.OPTIONS:
        if option.cli:
            assert getattr(args, option.name) == option.default, option.name
    atlas = parser.parse_args(["atlas", "efficientnet_lite0", "blocks.4"])
    assert atlas.steps == options.DEFAULTS.steps


def test_unknown_keywords_suggest_close_names() -> None:
    assert options.from_keywords({"steps": 3}).steps == 3
    with pytest.raises(InvalidArgumentError, match="Did you mean 'lr'"):
        options.from_keywords({"lrr": 0.1})


def test_changed_ignores_spelled_out_defaults() -> None:
    assert options.changed({"steps": options.DEFAULTS.steps, "lr": None, "param": "fft"}) == {}
    assert options.changed({"steps": 7, "redirect_relu": 1}) == {"steps": 7, "redirect_relu": 1}


def test_the_table_imports_no_torch() -> None:
    code = "import sys, featviz.options, featviz.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
