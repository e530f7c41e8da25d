"""Parameterizations and transforms: shapes, ranges, seeds, and what the transforms do."""

from __future__ import annotations

import pytest
import torch

from featviz import transforms as T
from featviz.errors import InvalidArgumentError
from featviz.param import FourierImage, PixelImage, make_param


@pytest.mark.parametrize("cls", [PixelImage, FourierImage])
@pytest.mark.parametrize("size", [32, (24, 40), (17, 9)])
def test_params_give_images_in_unit_range(cls, size) -> None:
    image = cls(size, batch=2, seed=0)()
    h, w = (size, size) if isinstance(size, int) else size
    assert image.shape == (2, 3, h, w)
    assert image.min() >= 0 and image.max() <= 1


def test_param_seeds_are_per_image() -> None:
    a = FourierImage(16, batch=2, seed=[5, 6]).spectrum.detach()
    b = FourierImage(16, batch=1, seed=[6]).spectrum.detach()
    assert torch.equal(a[1], b[0]) and not torch.equal(a[0], a[1])


def test_fourier_scale_favours_low_frequencies() -> None:
    scale = FourierImage(64, decay_power=1.0).scale
    assert scale[0, 0] > scale[32, 32] * 10
    assert torch.allclose(FourierImage(64, decay_power=0.0).scale, torch.ones_like(scale))


def test_make_param_checks_batch_and_type() -> None:
    with pytest.raises(InvalidArgumentError, match="batch=3"):
        make_param(PixelImage(8, batch=2), (8, 8), 3, 0)
    with pytest.raises(InvalidArgumentError, match="ImageParam"):
        make_param(torch.nn.Linear(2, 2), (8, 8), 1, 0)  # type: ignore[arg-type]


def test_affine_transforms_at_zero_strength_are_identity() -> None:
    images = torch.rand(2, 3, 20, 24)
    pipeline = T.Transforms([T.Jitter(0), T.RandomScale(1, 1), T.RandomRotate(0)])
    u = pipeline.sample([1, 2], 1)[0]
    assert torch.allclose(pipeline(images, u, (20, 24)), images, atol=1e-5)


def test_jitter_shifts_by_whole_pixels_when_asked() -> None:
    images = torch.rand(1, 3, 16, 16)
    shifted = T.Jitter(3)(images, torch.tensor([[1.0, 0.5]]))  # +3 px in x, 0 in y
    assert torch.allclose(shifted[..., 3:], images[..., :-3], atol=1e-5)
    assert torch.allclose(shifted[..., :3], torch.full_like(shifted[..., :3], 0.5), atol=1e-5)


def test_rotation_by_90_degrees_matches_rot90() -> None:
    images = torch.rand(1, 3, 9, 9)
    rotated = T.RandomRotate(90)(images, torch.tensor([[1.0]]))  # u=1 → +90°, clockwise on screen
    assert torch.allclose(rotated, images.rot90(-1, (2, 3)), atol=1e-4)


def test_pad_and_resize_reach_the_output_size() -> None:
    images = torch.rand(2, 3, 20, 20)
    pipeline = T.Transforms(T.standard())
    u = pipeline.sample([1, 2], 4)
    assert u.shape == (4, 2, pipeline.n_random)
    out = pipeline(images, u[0], (32, 32))
    assert out.shape == (2, 3, 32, 32)
    assert T.Transforms([T.Pad(4)])(images, u[0, :, :0], (20, 20)).shape == (2, 3, 20, 20)


def test_transform_samples_are_per_image_and_replayable() -> None:
    pipeline = T.Transforms(T.standard())
    a = pipeline.sample([7, 8], 5)
    b = pipeline.sample([8], 5)
    assert torch.equal(a[:, 1], b[:, 0]) and torch.equal(a, pipeline.sample([7, 8], 5))


def test_transforms_are_differentiable() -> None:
    images = torch.rand(1, 3, 16, 16, requires_grad=True)
    pipeline = T.Transforms(T.standard())
    pipeline(images, pipeline.sample([0], 1)[0], (24, 24)).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_make_transforms_names_and_errors() -> None:
    assert T.make_transforms("none").n_random == 0
    assert T.make_transforms(None).n_random == 0
    assert T.make_transforms("standard").n_random == 6
    with pytest.raises(InvalidArgumentError):
        T.make_transforms("fancy")
    with pytest.raises(InvalidArgumentError):
        T.make_transforms([3])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError):
        T.RandomScale(2, 1)
