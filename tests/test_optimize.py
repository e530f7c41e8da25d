"""The optimization of one chunk: snapshots, non-finite steps, the attribution map, alpha."""

from __future__ import annotations

import pytest
import torch

import featviz
from featviz.errors import NonFiniteError
from featviz.rendering import objectives as obj

FAST = {"steps": 8, "size": 32, "progress": False}


def test_thresholds_keep_snapshots(tiny) -> None:
    result = featviz.render(tiny, "conv3:1", thresholds=(2, 5, 99), **FAST)
    assert sorted(result.snapshots) == [2, 5]
    assert result.snapshots[5].shape == (1, 3, 32, 32)


def test_nonfinite_steps_are_skipped_and_counted(tiny) -> None:
    calls = {"n": 0}

    def flaky(acts):
        calls["n"] += 1
        score = acts["conv3"][:, 1].mean((1, 2))
        return score * float("nan") if calls["n"] % 3 == 0 else score

    result = featviz.render(tiny, obj.Objective(flaky, {"conv3"}, "flaky"), **FAST)
    assert torch.isfinite(result.images).all()
    assert 0 < int(result.skipped_steps[0]) < 8


def test_always_nonfinite_objective_raises(tiny) -> None:
    nan = obj.Objective(lambda acts: acts["conv3"].mean((1, 2, 3)) * float("nan"), {"conv3"}, "nan")
    with pytest.raises(NonFiniteError, match="NaN"):
        featviz.render(tiny, nan, **FAST)


def test_every_render_has_an_attribution_map(tiny) -> None:
    result = featviz.render(tiny, ["conv3:1", "conv2:3"], batch_size=1, **FAST)
    assert result.attribution is not None and result.attribution.shape == (2, 1, 32, 32)
    assert torch.isfinite(result.attribution).all()


def test_alpha_render_gives_rgba_images_and_png(tiny, tmp_path) -> None:
    kwargs = {**FAST, "steps": 40, "seed": [1, 2]}
    result = featviz.render(tiny, ["conv3:1", "conv3:1"], alpha=True, **kwargs)
    assert result.images.shape == (2, 4, 32, 32) and result.settings["alpha"] is True
    assert result.history[-3:].mean() > result.history[:3].mean()
    # A score the image cannot change: opacity only costs, so the picture turns transparent.
    unused = featviz.render(
        tiny, obj.constant(1.0) + 0 * obj.channel("conv3", 1), alpha=True, **{**FAST, "steps": 40}
    )
    assert unused.images[:, 3].mean() < 0.45
    path = result.save(tmp_path / "alpha.png", index=0)
    from PIL import Image

    with Image.open(path) as png:
        assert png.mode == "RGBA" and png.size == (32, 32)
    assert result.to_pil().mode == "RGBA"  # the grid keeps transparency too
