"""Image-seeded renders: init=, caricature (feature inversion) and accentuation."""

from __future__ import annotations

import pytest
import torch

import featviz
import featviz.model.hooks
from featviz.analysis.metrics import unit_response
from featviz.errors import InvalidArgumentError
from tests.conftest import assert_untouched, snapshot

FAST = {"size": 32, "progress": False}


def _photo() -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    return torch.stack([x, y, (x * y).sqrt()]) * 0.8 + 0.1


@pytest.mark.parametrize("param", ["fft", "pixel", "fft_rgb"])
def test_init_reproduces_the_image_at_step_zero(tiny, param) -> None:
    photo = _photo()
    result = featviz.render(tiny, "conv3:1", init=photo, param=param, steps=0, **FAST)
    assert torch.allclose(result.images[0], photo, atol=1e-4)
    assert result.settings["init"] == "image"


def test_init_accepts_files_one_or_many_images_and_checks_them(tiny, tmp_path) -> None:
    path = tmp_path / "photo.png"
    featviz.imaging.to_pil(_photo()).save(path)
    result = featviz.render(tiny, ["conv3:1", "conv3:2"], init=path, steps=0, batch_size=1, **FAST)
    assert torch.allclose(result.images[0], result.images[1]) and result.settings["init"] == str(path)
    both = featviz.render(
        tiny, ["conv3:1", "conv3:2"], init=torch.stack([_photo(), 1 - _photo()]), steps=0, **FAST
    )
    assert torch.allclose(both.images[1], 1 - _photo(), atol=1e-3)
    with pytest.raises(InvalidArgumentError, match="one image for all"):
        featviz.render(tiny, "conv3:1", init=torch.rand(2, 3, 32, 32), steps=1, **FAST)
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        featviz.render(tiny, "conv3:1", init=tmp_path / "missing.png", steps=1, **FAST)
    with pytest.raises(InvalidArgumentError, match=r"\[0, 1\]"):
        featviz.render(tiny, "conv3:1", init=torch.full((3, 8, 8), 2.0), steps=1, **FAST)


def test_caricature_grows_along_the_photos_representation(tiny) -> None:
    before = snapshot(tiny)
    photo = _photo()
    result = featviz.caricature(tiny, photo, "conv2", steps=30, **FAST)
    assert result.images.shape == (1, 3, 32, 32)
    assert result.history[-3:].mean() > result.history[:3].mean()
    with torch.no_grad():
        ref = featviz.model.hooks.Recorder(tiny, {"conv2"})
        with ref:
            a = ref.run(photo[None])["conv2"].flatten()
            b = ref.run(result.images)["conv2"].flatten()
    assert torch.cosine_similarity(a, b, dim=0) > 0.5  # still about the photo
    assert result.settings["transforms"] == "standard" and result.settings["lr"] == 0.05
    assert_untouched(tiny, before)
    with pytest.raises(InvalidArgumentError, match="hidden layer"):
        featviz.caricature(tiny, photo, "conv2:3", steps=1, **FAST)


def test_accentuate_raises_the_unit_and_stays_near_the_photo(tiny) -> None:
    photo = _photo()
    start = float(unit_response(tiny, "conv3:1", photo[None])[0])
    near = featviz.accentuate(tiny, photo, "conv3:1", alpha=1.0, steps=30, **FAST)
    free = featviz.accentuate(tiny, photo, "conv3:1", alpha=0.0, steps=30, **FAST)
    assert float(unit_response(tiny, "conv3:1", near.images)[0]) > start
    assert (near.images - photo).abs().mean() < (free.images - photo).abs().mean()
    assert "accentuate" in near.objective
    # photo-seeded renders keep Lucid's small transforms and lr so they stay aligned with the photo
    assert near.settings["transforms"] == "standard" and near.settings["lr"] == 0.05
    own = featviz.accentuate(tiny, photo, "conv3:1", steps=1, transforms="none", lr=0.01, **FAST)
    assert own.settings["transforms"] == "none" and own.settings["lr"] == 0.01
    with pytest.raises(InvalidArgumentError, match="init"):
        featviz.accentuate(tiny, photo, "conv3:1", init=photo, steps=1, **FAST)


def test_accentuate_without_transforms_starts_with_a_finite_gradient(tiny) -> None:
    result = featviz.accentuate(tiny, _photo(), "conv3:1", transforms="none", steps=5, **FAST)
    assert int(result.skipped_steps.sum()) == 0 and torch.isfinite(result.images).all()
