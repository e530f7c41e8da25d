"""Parameterizations and transforms: shapes, ranges, seeds, and what the transforms do."""

from __future__ import annotations

import pytest
import torch

from featviz import transforms as T
from featviz.errors import InvalidArgumentError
from featviz.rendering.param import FourierImage, PixelImage, make_param


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
    assert T.make_transforms("wide").n_random == 6  # same recipe, wider ranges
    with pytest.raises(InvalidArgumentError):
        T.make_transforms("fancy")
    with pytest.raises(InvalidArgumentError):
        T.make_transforms([3])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError):
        T.RandomScale(2, 1)


def test_multicrop_makes_view_major_crops_of_each_image() -> None:
    images = torch.rand(2, 3, 20, 20)
    pipeline = T.Transforms([T.MultiCrop(3, 0.5, 1.0)])
    assert pipeline.views == 3 and pipeline.n_random == 9
    u = pipeline.sample([1, 2], 1)[0]
    out = pipeline(images, u, (16, 16))
    assert out.shape == (6, 3, 16, 16)
    alone = pipeline(images[1:], u[1:], (16, 16))  # image 2's crops do not depend on image 1
    assert torch.allclose(out.view(3, 2, 3, 16, 16)[:, 1], alone, atol=1e-6)
    whole = T.Transforms([T.MultiCrop(2, 1.0, 1.0)])  # a full-size box is the image itself
    assert torch.allclose(
        whole(images, whole.sample([0, 1], 1)[0], (20, 20)), images.repeat(2, 1, 1, 1), atol=1e-4
    )


def test_multicrop_box_of_half_size_magnifies_a_quarter() -> None:
    images = torch.zeros(1, 3, 17, 17)
    images[..., 4:13, 4:13] = 1.0  # a centred bright square of half the side
    crop = T.MultiCrop(1, 0.5, 0.5)(images, torch.tensor([[0.0, 0.5, 0.5]]))  # centred half box
    assert crop.shape == (1, 3, 17, 17) and crop[..., 1:-1, 1:-1].min() > 0.9


def test_noise_and_blur_are_seeded_per_image_and_differentiable() -> None:
    images = torch.full((2, 3, 16, 16), 0.5, requires_grad=True)
    noise = T.GaussianNoise(0.1)
    u = torch.tensor([[0.25], [0.75]])
    a = noise(images, u)
    assert torch.equal(a, noise(images, u)) and not torch.equal(a[0], a[1])
    assert 0.08 < float((a.detach() - 0.5).std()) < 0.12
    assert torch.equal(noise(images[1:], u[1:]), a[1:])
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None]) % 2
    sharp = checker.float().expand(2, 3, 16, 16).clone()
    blurred = T.RandomBlur(2.0)(sharp, torch.tensor([[0.0], [1.0]]))
    assert torch.allclose(blurred[0], sharp[0], atol=1e-3)  # sigma ~ 0: unchanged
    assert float(blurred[1].std()) < 0.1 * float(sharp[1].std())  # sigma 2 wipes a 1-px checker
    (a.sum() + T.RandomBlur(1.0)(images, u).sum()).backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_views_differ_after_a_multicrop() -> None:
    images = torch.full((1, 3, 8, 8), 0.5)
    pipeline = T.Transforms([T.MultiCrop(2, 1.0, 1.0), T.GaussianNoise(0.1)])
    out = pipeline(images, pipeline.sample([3], 1)[0], (8, 8))
    assert not torch.allclose(out[0], out[1])


def test_multicrop_preset_and_errors() -> None:
    assert T.make_transforms("multicrop").views == 8
    for bad in (lambda: T.MultiCrop(0), lambda: T.MultiCrop(2, 0.6, 0.5), lambda: T.GaussianNoise(-1)):
        with pytest.raises(InvalidArgumentError):
            bad()


def test_maco_keeps_its_magnitude_and_learns_only_the_phase() -> None:
    from featviz.rendering.param import MacoImage

    image = MacoImage((24, 40), batch=2, seed=[1, 2])
    assert [name for name, _ in image.named_parameters()] == ["phase"]
    x = image()
    assert x.shape == (2, 3, 24, 40) and x.min() >= 0 and x.max() <= 1
    with torch.no_grad():
        image.phase.add_(torch.randn_like(image.phase))
    spectrum = torch.fft.rfft2(image.raw(), norm="ortho").abs()
    # Away from the self-conjugate DC/Nyquist columns the magnitude is exactly the fixed one.
    assert torch.allclose(
        spectrum[..., 1:-1], image.magnitude[..., 1:-1].expand_as(spectrum[..., 1:-1]), rtol=1e-3, atol=1e-4
    )
    assert not torch.equal(MacoImage(16, seed=1).phase, MacoImage(16, seed=2).phase)


def test_maco_spectrum_is_natural_and_resamples_by_frequency() -> None:
    from featviz.analysis import metrics
    from featviz.rendering.param import MacoImage, _shipped_spectrum, resample_spectrum

    slope, high = metrics.spectral_slope(MacoImage(224, batch=2)())
    assert (slope > -3.5).all() and (slope < -1.7).all() and (high < 0.2).all()  # photo-like
    shipped = _shipped_spectrum()
    assert shipped.shape == (3, 224, 113)
    assert resample_spectrum(shipped, (224, 224)) is shipped
    small = resample_spectrum(shipped, (112, 160))
    assert small.shape == (3, 112, 81)
    assert torch.allclose(small.square().mean(), shipped.square().mean(), rtol=1e-4)
    assert small[:, 1, 0].mean() > small[:, 40, 0].mean() * 5  # low frequencies stay strong


def test_spectrum_from_images_tensor_and_folder(tmp_path) -> None:
    from PIL import Image

    from featviz.rendering.param import spectrum_from_images

    noise = torch.rand(4, 3, 40, 50, generator=torch.Generator().manual_seed(0))
    spectrum = spectrum_from_images(noise, 32)
    assert spectrum.shape == (3, 32, 17)
    ac = spectrum[0].flatten()[1:]
    assert ac.std() / ac.mean() < 0.7  # white noise: no frequency favoured
    for i in range(2):
        Image.fromarray((noise[i].permute(1, 2, 0).numpy() * 255).astype("uint8")).save(tmp_path / f"{i}.png")
    assert spectrum_from_images(tmp_path, 32).shape == (3, 32, 17)
    with pytest.raises(InvalidArgumentError, match="not a folder"):
        spectrum_from_images(tmp_path / "missing", 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError, match="no .png"):
        spectrum_from_images(tmp_path / "empty", 32)
    with pytest.raises(InvalidArgumentError, match="(N, 3, H, W)"):
        spectrum_from_images(torch.rand(3, 8, 8), 8)


def test_laplacian_levels_sum_to_the_image_and_init_is_exact() -> None:
    from featviz.rendering.param import LaplacianImage

    image = LaplacianImage((24, 40), batch=2, seed=0)
    assert image.levels == 3 and [tuple(g.shape[-2:]) for g in image.grids] == [(24, 40), (12, 20), (6, 10)]
    x = image()
    assert x.shape == (2, 3, 24, 40) and x.min() >= 0 and x.max() <= 1
    target = torch.rand(2, 3, 24, 40) * 0.8 + 0.1
    image.set_image(target)
    assert torch.allclose(image(), target, atol=1e-5)
    with pytest.raises(InvalidArgumentError, match="levels"):
        LaplacianImage(16, levels=9)


def test_cppn_is_a_smooth_function_of_position_at_any_size() -> None:
    from featviz.rendering.param import CPPNImage, default_lr

    image = CPPNImage((20, 30), batch=2, seed=[1, 2])
    assert torch.allclose(image(), torch.full((2, 3, 20, 30), 0.5))  # zero output layer: grey start
    with torch.no_grad():
        image.weights[-1].normal_(0, 1)
    x = image()
    assert not torch.allclose(x[0], x[1])  # one network per image
    big = image.render_at(60)
    assert big.shape == (2, 3, 60, 60) and big.min() >= 0 and big.max() <= 1
    # Each name's learning rate is its class's own (the bug this guards: a name map drifting).
    assert default_lr("cppn") == CPPNImage.default_lr and default_lr("fft") == FourierImage.default_lr


def test_alpha_image_adds_an_opacity_channel() -> None:
    from featviz.rendering.param import AlphaImage, FourierImage, composite, make_param

    image = make_param("fft", (16, 16), 2, 0, alpha=True)
    assert isinstance(image, AlphaImage)
    x = image()
    assert x.shape == (2, 4, 16, 16) and torch.allclose(x[:, 3].mean(), torch.tensor(0.5), atol=0.01)
    over_white = composite(x, 1.0)
    assert over_white.shape == (2, 3, 16, 16)
    assert torch.allclose(over_white, x[:, :3] * x[:, 3:] + (1 - x[:, 3:]))
    with pytest.raises(InvalidArgumentError):
        AlphaImage(FourierImage(8), start=1.0)


def test_held_contrast_keeps_each_colour_channels_spread_whatever_the_parameters() -> None:
    from featviz.rendering.param import NATURAL_GREY_SPREAD, NATURAL_SPREAD

    image = FourierImage(48, 2, seed=[1, 2], contrast=(0.5, 2.0))
    with torch.no_grad():
        image.spectrum.mul_(37.0)  # what a long optimization does to the free spectrum
        held = image._held(image.raw())
    spread = held.std((-2, -1), unbiased=False)
    expected = torch.tensor(NATURAL_SPREAD) * torch.tensor([0.5, 2.0, 2.0])  # luminance, colour
    assert torch.allclose(spread, expected.expand(2, 3), rtol=1e-4)
    free = FourierImage(48, 1, seed=1, contrast=None)
    assert free().std() < 0.01 < image().std()  # held images start with a photo's contrast
    grey = FourierImage(48, 1, channels=1, contrast=(0.5, 2.0))
    spread = grey._held(grey.raw()).std(unbiased=False)
    assert torch.allclose(spread, torch.tensor(NATURAL_GREY_SPREAD * 0.5), rtol=1e-4)


def test_held_contrast_reproduces_a_start_image_and_learns_a_gain() -> None:
    photo = torch.rand(1, 3, 40, 40) * 0.6 + 0.2
    image = FourierImage(40, 1, contrast=1.0, learn_contrast=True)
    image.set_image(photo)
    assert torch.allclose(image(), photo, atol=1e-4)
    assert [name for name, _ in image.named_parameters()] == ["gain", "spectrum"]
    before = image().std()
    with torch.no_grad():
        image.gain.fill_(0.5)
    assert image().std() > before


@pytest.mark.parametrize("contrast", [0, -1.0, (1.0, 2.0, 3.0), "high", True])
def test_bad_contrast_is_a_featviz_error(contrast) -> None:
    with pytest.raises(InvalidArgumentError, match="contrast must be"):
        FourierImage(16, 1, contrast=contrast)
