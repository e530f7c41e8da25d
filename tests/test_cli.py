"""The README quickstart and the command line, run the way a new user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import featviz
import featviz.imaging
from featviz.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _quickstart() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- quickstart[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its quickstart block"
    return match.group(1)


def test_readme_quickstart_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(_quickstart(), "README quickstart", "exec"), {})  # noqa: S102
    with Image.open(tmp_path / "blocks4_12.png") as image:
        assert image.size == (224, 224)
        assert max(hi - lo for lo, hi in image.getextrema()) > 100  # not a flat grey picture
    assert (tmp_path / "blocks4_grid.png").exists()


def test_cli_render_end_to_end(tmp_path, capsys) -> None:
    out = tmp_path / "out.png"
    code = main(
        [
            "render",
            "efficientnet_lite0",
            "blocks.4:12",
            "-o",
            str(out),
            "--steps",
            "4",
            "--size",
            "64",
            "--seed",
            "0",
            "-q",
        ]
    )
    assert code == 0
    assert "blocks.4:12\tscore" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.size == (64, 64)


def test_cli_channels_and_layers(tmp_path, capsys) -> None:
    out = tmp_path / "grid.png"
    assert (
        main(
            [
                "render",
                "efficientnet_lite0",
                "blocks.2",
                "--channels",
                "0:3",
                "-o",
                str(out),
                "--steps",
                "2",
                "--size",
                "32x48",
                "-q",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.count("\tscore") == 3
    assert main(["layers", "efficientnet_lite0", "--filter", "blocks.4", "--size", "64"]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("layer") and "blocks.4.0.conv_pw" in listing


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["render", "efficientnet_lite0", "blocks.4:999", "--steps", "1", "-q"], "valid: 0..111"),
        (["render", "efficientnet_lite0", "block.4:1", "--steps", "1", "-q"], "Did you mean"),
        (["render", "efficientnet_lite0", "blocks.4:x", "-q"], "cannot parse target"),
        (["render", "nosuchmodel", "blocks.4:1", "-q"], "unknown model"),
    ],
)
def test_cli_errors_are_one_clear_line(argv, message, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("featviz: error:") and message in err and "Traceback" not in err


def test_cli_loads_a_saved_module(tmp_path, tiny, capsys) -> None:
    import torch

    path = tmp_path / "tiny.pt"
    torch.save(tiny, path)
    out = tmp_path / "tiny.png"
    assert main(["render", str(path), "conv3:1", "-o", str(out), "--steps", "2", "--size", "32", "-q"]) == 0
    assert out.exists()


def test_python_dash_m_featviz() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "featviz", "--help"], capture_output=True, text=True, env=env, check=True
    )
    assert "render" in result.stdout and "layers" in result.stdout


def test_cli_toolbox_options(tmp_path, tiny, capsys) -> None:
    import torch

    model_path = tmp_path / "tiny.pt"
    torch.save(tiny, model_path)
    out = tmp_path / "alpha.png"
    argv = ["render", str(model_path), "conv3:1", "-o", str(out), "--steps", "3", "--size", "32", "-q"]
    assert main([*argv, "--alpha", "--no-redirect-relu", "--param", "laplacian"]) == 0
    with Image.open(out) as image:
        assert image.mode == "RGBA"
    assert main([*argv, "--param", "maco", "--transforms", "multicrop", "--lr", "0.1"]) == 0
    assert main([*argv, "--param", "wavelets"]) == 2
    assert "unknown parameterization 'wavelets'" in capsys.readouterr().err


def test_toolbox_example_writes_every_picture(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = ROOT / "examples" / "toolbox.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "--steps", "2"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    names = {p.name for p in tmp_path.iterdir()}
    assert {"maco.png", "maco_transparent.png", "alpha.png", "cppn.png", "laplacian.png"} <= names
    assert {"caricature.png", "accentuate.png", "photo.png"} <= names
    with Image.open(tmp_path / "alpha.png") as image:
        assert image.mode == "RGBA"


def test_cli_ctrl_c_writes_the_partial_picture_and_exits_130(tmp_path, tiny, monkeypatch, capsys) -> None:
    import torch

    path = tmp_path / "tiny.pt"
    torch.save(tiny, path)
    steps = {"n": 0}

    def ctrl_c(module, inputs, output):
        if torch.is_grad_enabled():
            steps["n"] += 1
            if steps["n"] == 3:
                raise KeyboardInterrupt

    real_load = torch.load

    def load_with_hook(*args, **kwargs):
        model = real_load(*args, **kwargs)
        if isinstance(model, torch.nn.Module):
            model.conv1.register_forward_hook(ctrl_c)
        return model

    monkeypatch.setattr(torch, "load", load_with_hook)
    out = tmp_path / "partial.png"
    code = main(["render", str(path), "conv3:1", "-o", str(out), "--steps", "50", "--size", "32", "-q"])
    assert code == 130 and out.exists()
    assert "interrupted after 2 of 50 steps" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lr", "nan"], "lr must be a positive, finite number"),
        (["--lr", "-1"], "lr must be a positive, finite number"),
        (["--device", "cuda:7"], "cuda"),
        (["--device", "tpu"], "not a device"),
    ],
)
def test_cli_bad_values_are_one_line_errors(tmp_path, flags, message, capsys) -> None:
    import torch

    if flags[-1].startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    argv = ["render", "efficientnet_lite0", "blocks.2:1", "-o", str(tmp_path / "x.png"), "--steps", "1"]
    assert main([*argv, "--size", "32", "-q", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("featviz: error:") and message in err and "Traceback" not in err


def test_cli_explains_a_state_dict_file(tmp_path, tiny, capsys) -> None:
    import torch

    path = tmp_path / "weights.pt"
    torch.save(tiny.state_dict(), path)
    assert main(["render", str(path), "conv3:1", "-o", str(tmp_path / "x.png"), "--steps", "1", "-q"]) == 2
    assert "state dict" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        ("explain", ["--cache", "--no-cache", "--atlas", "--no-render", "-q", "--steps", "--size", "--lr"]),
        ("diagnose", ["--cache", "--no-cache", "--atlas", "--no-render", "-q", "--steps", "--seed"]),
        ("activation-atlas", ["--cache", "--no-cache", "--no-render", "-q", "--steps", "--size", "--lr"]),
        ("concepts", ["--cache", "--no-cache", "--no-render", "-q", "--steps", "--size", "--method", "-k"]),
        ("atlas", ["-q", "--steps", "--size", "--lr"]),
        ("microscope", ["-q", "--steps", "--size", "--lr"]),
    ],
)
def test_report_commands_share_their_flags(command, flags, capsys) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert all(f" {flag}" in text for flag in flags), [flag for flag in flags if f" {flag}" not in text]


def test_cli_refuses_a_folder_another_run_is_writing(tmp_path, tiny, capsys) -> None:
    from featviz.reports import frame

    model = tmp_path / "tiny.pt"
    torch.save(tiny, model)
    photo = tmp_path / "photo.png"
    featviz.imaging.to_pil(torch.rand(3, 32, 32)).save(photo)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from featviz.reports import frame\nwith frame.claim({str(tmp_path / 'out')!r}, 'x'):\n"
            "    print('held', flush=True)\n    input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        argv = [
            "explain",
            str(model),
            str(photo),
            "--layers",
            "conv3",
            "--no-render",
            "-o",
            str(tmp_path / "out"),
        ]
        assert main(argv) == 2
        assert f"pid {holder.pid}" in capsys.readouterr().err
        assert not (tmp_path / "out" / "index.html").exists()
    finally:
        holder.communicate("\n")
    assert main(argv) == 0 and (tmp_path / "out" / "index.html").is_file()
    with frame.claim(tmp_path / "out", "after"):  # the command let go of its folder
        pass
