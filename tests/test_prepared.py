"""The prepared model: devices, input sizes, activations under guarded hooks, the layer table."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_untouched, snapshot
from torch import nn

import featviz
from featviz.errors import DeviceError, InvalidArgumentError
from featviz.model import facts
from featviz.model.prepared import FALLBACK_SIZE, Prepared, prepare


@pytest.fixture(scope="module")
def lite0():
    return featviz.load_model("efficientnet_lite0")


def test_a_bare_module_keeps_its_device_and_gets_imagenet_preprocessing(tiny) -> None:
    prepared = prepare(tiny)
    assert prepared.model is tiny and prepared.device == torch.device("cpu")
    assert prepared.name == "TinyCNN" and prepared.native_size is None
    assert prepared.default_size == FALLBACK_SIZE
    assert prepared.input_size((32, 48)) == (32, 48)  # no native size: the image's own
    assert prepare(prepared) is prepared  # nothing to change: the same object


def test_a_zoo_model_knows_its_input_size(lite0) -> None:
    prepared = prepare(lite0)
    assert prepared.native_size == (224, 224) and prepared.input_size((64, 64)) == (224, 224)
    assert "efficientnet_lite0" in prepared.preprocess.source


def test_activations_match_a_plain_forward_and_leave_the_model_alone(tiny) -> None:
    tiny.train()
    before = snapshot(tiny)
    images = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    acts = prepare(tiny, preprocess="none").activations(images, {"conv2", "output"}, batch=2)
    assert acts["conv2"].shape == (5, 16, 16, 16) and acts["output"].shape == (5, 10)
    tiny.eval()
    with torch.no_grad():
        expected = tiny(images)
    tiny.train()
    assert torch.allclose(acts["output"], expected, atol=1e-5)
    assert_untouched(tiny, before)


def test_each_batch_streams_and_releases_the_model_when_the_visitor_raises(tiny) -> None:
    images = torch.rand(7, 3, 32, 32)
    rows: list[slice] = []
    prepare(tiny).each_batch(images, {"conv1"}, lambda r, acts: rows.append(r), batch=3)
    assert rows == [slice(0, 3), slice(3, 6), slice(6, 7)]
    tiny.train()
    before = snapshot(tiny)

    def fail(rows, acts):
        raise ValueError("the caller's own error")

    with pytest.raises(ValueError):
        prepare(tiny).each_batch(images, {"conv1"}, fail)
    assert_untouched(tiny, before)  # no hooks left, training flags back, while the error is alive
    with pytest.raises(InvalidArgumentError, match="empty"):
        prepare(tiny).activations(images[:0], {"conv1"})


def test_model_input_resizes_to_the_native_size_and_normalizes(lite0) -> None:
    prepared = prepare(lite0)
    x = prepared.model_input(torch.full((1, 3, 64, 64), 0.5))
    assert x.shape == (1, 3, 224, 224)
    mean, std = prepared.preprocess.mean, prepared.preprocess.std
    assert torch.allclose(x[0, :, 0, 0], (0.5 - torch.tensor(mean)) / torch.tensor(std), atol=1e-5)


def test_devices_this_machine_lacks_get_featviz_errors(tiny, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no usable CUDA GPU") as info:
        prepare(tiny, device="cuda")
    assert isinstance(info.value, ValueError) and "device='cpu'" in str(info.value)
    with pytest.raises(DeviceError, match="not a device"):
        prepare(tiny, device="gpu0")
    with pytest.raises(DeviceError):
        featviz.render(tiny, "conv3:1", steps=1, size=32, device="cuda", progress=False)


def test_default_device_is_the_best_one_here(monkeypatch) -> None:
    from featviz.model import prepared as module

    assert module.best_device().type in ("cpu", "cuda", "mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        assert module.best_device() == torch.device("cpu")


def test_the_rendered_channel_count_follows_the_model() -> None:
    gray = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    prepared = prepare(gray)
    assert prepared.channels == 1 and prepared.preprocess.mean == (0.0,)  # no ImageNet default
    assert "1-channel" in prepared.preprocess.source
    # A function as preprocess turns RGB renders into what the model takes.
    assert prepare(gray, preprocess=lambda x: x.mean(1, keepdim=True)).channels == 3
    with pytest.raises(InvalidArgumentError, match="1-channel images but preprocess mean has 3"):
        prepare(gray, preprocess={"mean": [0.5] * 3, "std": [0.5] * 3})
    assert prepare(gray, preprocess={"mean": [0.5], "std": [0.25]}).preprocess.std == (0.25,)


def test_prepared_model_is_accepted_everywhere(tiny) -> None:
    prepared = prepare(tiny, preprocess="none")
    assert isinstance(prepared, Prepared)
    result = featviz.render(prepared, "conv3:1", steps=2, size=32, progress=False)
    assert result.settings["preprocess"]["source"].startswith("none")
    assert featviz.layers(prepared, size=32).names()[0] == "conv1"


def test_layers_of_lite0(lite0) -> None:
    table = featviz.layers(lite0)
    by_name = {info.layer: info for info in table}
    assert by_name["blocks.4"].channels == 112 and by_name["blocks.4"].spatial == (14, 14)
    assert by_name["conv_stem"].spatial == (112, 112)
    assert by_name["classifier"].channels == 1000 and by_name["classifier"].spatial == ()
    names = table.names()
    assert names.index("blocks.2") < names.index("blocks.4") < names.index("classifier")
    text = str(table)
    assert text.splitlines()[0].split() == ["layer", "type", "layout", "channels", "spatial"]
    assert "blocks.4 " in text


def test_layers_of_a_bare_module_and_by_name(tiny) -> None:
    before = [m.training for m in tiny.modules()]
    table = featviz.layers(tiny, size=32)
    assert [i.layer for i in table][:2] == ["conv1", "relu1"]
    assert {i.layer: i.shape for i in table}["conv3"] == (16, 16, 16)
    assert [m.training for m in tiny.modules()] == before
    assert all(not m._forward_hooks for m in tiny.modules())
    assert featviz.layers("efficientnet_lite0", size=64)[0].spatial == (32, 32)


def test_zoo_names_go_to_the_best_device_and_the_render_records_it(monkeypatch) -> None:
    from featviz.model import prepared as module

    asked = []

    def best() -> torch.device:
        asked.append(True)
        return torch.device("cpu")

    monkeypatch.setattr(module, "best_device", best)
    result = featviz.render("efficientnet_lite0", "blocks.1:0", steps=1, size=32, progress=False)
    assert asked and result.settings["device"] == "cpu"
    assert prepare(featviz.load_model("efficientnet_lite0")).device == torch.device(
        "cpu"
    )  # a module: its own


class _FixedSize(nn.Module):
    """Takes 64 px images only (like a ViT with fixed position embeddings)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == 64, f"Input width ({x.shape[-1]}) doesn't match model (64)."
        return self.conv(x)


def test_a_model_that_asserts_its_input_size_gets_a_featviz_error() -> None:
    with pytest.raises(InvalidArgumentError, match="doesn't match model"):
        featviz.render(_FixedSize(), "conv:0", steps=1, size=32, progress=False)
    assert featviz.render(_FixedSize(), "conv:0", steps=1, size=64, progress=False).images.shape[-1] == 64


def test_the_act_of_a_batchnormact_can_be_the_deepest_layer_asked_for() -> None:
    """A pass cut short after ``bn1.act`` misses what decides its layout (its parent returns after
    it); the layout comes from the whole model's table instead of a LayoutError."""
    prepared = prepare("efficientnet_lite0", device="cpu")
    acts = prepared.activations(torch.rand(1, 3, 224, 224), ["blocks.6.0.bn1.act"])
    assert acts["blocks.6.0.bn1.act"].shape == (1, 1152, 7, 7)


def test_resize_false_feeds_images_at_their_own_size(tiny) -> None:
    """``resize=False``: the model sees the image as it is (the record says so), not resized to
    its input size; small renders of a convolutional model are fed that way where it takes them."""
    prepared = prepare(tiny, preprocess={"mean": (0.5,) * 3, "std": (0.25,) * 3, "input_size": 64})
    shown = featviz.render(prepared, "relu2:1", steps=1, size=32, progress=False)
    fed = featviz.render(prepared, "relu2:1", steps=1, size=32, resize=False, progress=False)
    assert shown.settings["model_input_size"] == [64, 64]
    assert fed.settings["model_input_size"] == [32, 32] and fed.images.shape[-1] == 32
    assert facts.takes_size(prepared, (32, 32), ["relu2"])
    assert facts.resize_for(prepared, 32, ["relu2"]) is False
    assert facts.resize_for(prepared, 32, ["relu2"], given=True) is True
    fixed = prepare(_FixedSize(), preprocess={"mean": (0.5,) * 3, "std": (0.25,) * 3, "input_size": 64})
    assert not facts.takes_size(fixed, (32, 32), ["conv"])
    assert facts.resize_for(fixed, 32, ["conv"]) is True  # renders of a fixed-size model are resized
    assert featviz.render(fixed, "conv:0", steps=1, size=32, progress=False).images.shape[-1] == 32
