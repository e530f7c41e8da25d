"""Deletion and insertion (featviz.analysis.faithfulness) on planted models whose answers are known."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import featviz
from featviz.analysis.faithfulness import Faithfulness, area, baseline_image, deletion_insertion
from featviz.errors import InvalidArgumentError
from featviz.targets import OUTPUT

SIZE = 32
STRENGTH = 10.0


class LeftBrightness(nn.Module):
    """Class 0's logit rises with the left half's brightness; class 1's is 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = x[..., : x.shape[-1] // 2].mean((1, 2, 3))
        return torch.stack([STRENGTH * (left - 0.5), torch.zeros_like(left)], 1)


class LeftDetail(nn.Module):
    """Class 0's logit rises with the fine detail (neighbour differences) in the left half."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = x[..., : x.shape[-1] // 2]
        detail = (left[..., 1:] - left[..., :-1]).abs().mean((1, 2, 3))
        return torch.stack([STRENGTH * (detail - 0.5), torch.zeros_like(detail)], 1)


class Flat(nn.Module):
    """A model whose output is no row of class scores."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((1, 2, 3))


def _bright_left(size: int = SIZE) -> torch.Tensor:
    photo = torch.rand(3, size, size, generator=torch.Generator().manual_seed(1)) * 0.2
    photo[..., : size // 2] = 1.0
    return photo


def _checkered_left(size: int = SIZE) -> torch.Tensor:
    photo = torch.full((3, size, size), 0.5)
    columns = torch.arange(size // 2)
    photo[..., : size // 2] = ((columns[None, :] + torch.arange(size)[:, None]) % 2).float()
    return photo


# (model, photo, baseline): the baseline removes exactly what the model looks at.
PLANTED = {
    "brightness-grey": (LeftBrightness, _bright_left, "grey"),
    "detail-blur": (LeftDetail, _checkered_left, "blur"),
}
LEFT = torch.tensor([[1.0, 0.0], [1.0, 0.0]])


def _prepared(model: type[nn.Module]) -> featviz.Prepared:
    return featviz.prepare(model(), preprocess="none", device="cpu")


def _probability(prepared: featviz.Prepared, image: torch.Tensor, target: int = 0) -> float:
    logits = prepared.activations(image.reshape(1, *image.shape[-3:]), {OUTPUT})[OUTPUT]
    return float(logits.double().softmax(1)[0, target])


@pytest.mark.parametrize("planted", PLANTED)
def test_the_right_map_beats_chance_and_the_reversed_map_loses_to_it(planted: str) -> None:
    model, photo, baseline = PLANTED[planted]
    prepared = _prepared(model)
    right = deletion_insertion(prepared, photo(), LEFT, 0, steps=8, baseline=baseline)
    wrong = deletion_insertion(prepared, photo(), 1 - LEFT, 0, steps=8, baseline=baseline)
    assert right.deletion_auc < right.random_deletion_auc - 0.02 < wrong.deletion_auc - 0.04
    assert right.insertion_auc > right.random_insertion_auc + 0.02 > wrong.insertion_auc + 0.04
    assert right.score > right.random_score > wrong.score
    # the random curves do not depend on the map
    assert right.random_deletion == wrong.random_deletion
    assert right.random_insertion == wrong.random_insertion


def test_each_point_is_the_probability_after_that_many_pixels() -> None:
    # 8x8 photo, one pixel per step (65 images: more than one batch); the left map deletes the
    # 32 bright pixels first, each taking the left half's mean down by 0.5 / 32
    prepared = _prepared(LeftBrightness)
    photo = torch.zeros(3, 8, 8)
    photo[..., :4] = 1.0
    result = deletion_insertion(prepared, photo, LEFT, 0, steps=64, baseline="grey", random_orders=1)
    expected = [1 / (1 + math.exp(-STRENGTH * (0.5 - 0.5 * min(i, 32) / 32))) for i in range(65)]
    assert result.deletion == pytest.approx(expected, abs=1e-6)
    assert len(result.insertion) == len(result.random_deletion) == len(result.random_insertion) == 65


@pytest.mark.parametrize("planted", PLANTED)
def test_areas_are_the_trapezoid_rule_over_the_curves(planted: str) -> None:
    model, photo, baseline = PLANTED[planted]
    result = deletion_insertion(_prepared(model), photo(), LEFT, 0, steps=5, baseline=baseline)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    x = np.linspace(0, 1, 6)
    for curve, auc in [
        (result.deletion, result.deletion_auc),
        (result.insertion, result.insertion_auc),
        (result.random_deletion, result.random_deletion_auc),
        (result.random_insertion, result.random_insertion_auc),
    ]:
        assert len(curve) == 6
        assert auc == pytest.approx(float(trapezoid(curve, x)), abs=1e-12)
    assert result.score == pytest.approx(result.insertion_auc - result.deletion_auc)
    assert area(torch.tensor([0.0, 1.0])) == pytest.approx(0.5)


@pytest.mark.parametrize("planted", PLANTED)
def test_the_curves_run_between_the_photo_and_the_baseline(planted: str) -> None:
    model, photo, baseline = PLANTED[planted]
    prepared = _prepared(model)
    image = photo()
    result = deletion_insertion(prepared, image, LEFT, 0, steps=4, baseline=baseline)
    on_photo = _probability(prepared, image)
    on_baseline = _probability(prepared, baseline_image(image[None], baseline))
    assert on_photo > 0.9 and on_baseline < 0.6  # the baseline removes what the model sees
    for start, end in [
        (result.deletion, result.insertion),
        (result.random_deletion, result.random_insertion),
    ]:
        assert start[0] == pytest.approx(on_photo, abs=1e-6)
        assert start[-1] == pytest.approx(on_baseline, abs=1e-6)
        assert end[0] == pytest.approx(on_baseline, abs=1e-6)
        assert end[-1] == pytest.approx(on_photo, abs=1e-6)


def test_a_baseline_image_of_your_own_and_the_other_class() -> None:
    prepared = _prepared(LeftBrightness)
    black = torch.zeros(1, 3, SIZE, SIZE)
    result = deletion_insertion(prepared, _bright_left()[None], LEFT, 1, steps=4, baseline=black)
    assert result.baseline == "tensor" and result.target == 1
    assert result.deletion[-1] == pytest.approx(_probability(prepared, black, target=1), abs=1e-6)
    assert result.deletion_auc > result.random_deletion_auc  # class 1 gains as the left goes dark


def test_the_blur_baseline_keeps_the_mean_and_removes_detail() -> None:
    photo = _checkered_left()[None]
    blurred = baseline_image(photo, "blur")
    assert blurred.shape == photo.shape
    assert float(blurred.mean()) == pytest.approx(float(photo.mean()), abs=0.01)
    left = blurred[..., : SIZE // 2]
    assert float((left[..., 1:] - left[..., :-1]).abs().mean()) < 0.01


def test_same_arguments_same_result_and_the_seed_moves_only_the_random_curves() -> None:
    prepared = _prepared(LeftDetail)
    args = (prepared, _checkered_left(), torch.rand(4, 4, generator=torch.Generator().manual_seed(3)), 0)
    first = deletion_insertion(*args, steps=6, seed=5)
    assert deletion_insertion(*args, steps=6, seed=5) == first
    other = deletion_insertion(*args, steps=6, seed=6)
    assert other.deletion == first.deletion and other.insertion == first.insertion
    assert other.random_deletion != first.random_deletion


def test_to_dict_is_plain_json_and_no_random_orders_gives_nan() -> None:
    result = deletion_insertion(_prepared(LeftBrightness), _bright_left(), LEFT, 0, steps=3, random_orders=0)
    assert isinstance(result, Faithfulness)
    assert result.random_deletion == [] and math.isnan(result.random_deletion_auc)
    record = result.to_dict()
    assert json.loads(json.dumps(record, allow_nan=True))["deletion"] == result.deletion
    assert record["steps"] == 3 and record["baseline"] == "blur" and record["score"] == result.score
    assert all(type(value) is float for value in record["insertion"])  # type: ignore[attr-defined]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_gives_the_cpu_result() -> None:
    photo, cam = _bright_left(), torch.rand(7, 7, generator=torch.Generator().manual_seed(0))
    cpu = deletion_insertion(_prepared(LeftBrightness), photo, cam, 0, steps=8)
    gpu = featviz.prepare(LeftBrightness(), preprocess="none", device="cuda")
    result = deletion_insertion(gpu, photo.cuda(), cam.cuda(), 0, steps=8)
    assert result.deletion == pytest.approx(cpu.deletion, abs=1e-5)
    assert result.random_insertion == pytest.approx(cpu.random_insertion, abs=1e-5)


BAD = {
    "saliency 3-D": ({"saliency": torch.ones(1, 4, 4)}, "saliency must be a non-empty 2-D"),
    "saliency empty": ({"saliency": torch.ones(0, 4)}, "saliency must be a non-empty 2-D"),
    "saliency NaN": ({"saliency": torch.tensor([[1.0, float("nan")]])}, "1 NaN or infinite"),
    "saliency list": ({"saliency": [[1.0, 0.0]]}, "got list"),
    "steps 0": ({"steps": 0}, "steps must be an int >= 1"),
    "steps over pixels": ({"steps": SIZE * SIZE + 1}, "at most the photo's 32x32"),
    "steps bool": ({"steps": True}, "got True"),
    "steps float": ({"steps": 4.0}, "got 4.0"),
    "random_orders": ({"random_orders": -1}, "random_orders must be an int >= 0"),
    "seed": ({"seed": "0"}, "seed must be an int"),
    "target negative": ({"target": -1}, "target must be an int >= 0"),
    "target too big": ({"target": 2}, "from 0 to 1 (the model has 2 classes), got 2"),
    "photo batch": ({"photo": torch.rand(2, 3, SIZE, SIZE)}, "(1, 3, H, W)"),
    "photo range": ({"photo": torch.full((3, SIZE, SIZE), 2.0)}, "must be in [0, 1]"),
    "baseline name": ({"baseline": "black"}, "['blur', 'grey']"),
    "baseline shape": ({"baseline": torch.zeros(3, 8, 8)}, "the photo's shape (3, 32, 32)"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_arguments_say_what_was_given_and_what_is_expected(case: str) -> None:
    changes, message = BAD[case]
    arguments: dict[str, object] = {
        "prepared": _prepared(LeftBrightness),
        "photo": _bright_left(),
        "saliency": LEFT,
        "target": 0,
        "steps": 4,
        "random_orders": 1,
        **changes,
    }
    with pytest.raises(InvalidArgumentError) as caught:
        deletion_insertion(**arguments)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_a_model_without_class_scores_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="one row of class scores"):
        deletion_insertion(_prepared(Flat), _bright_left(), LEFT, 0, steps=2)


def test_a_model_that_takes_only_its_own_size() -> None:
    # a linear classifier on 8x8 images: nothing may run it at another size
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    prepared = featviz.prepare(model, preprocess="none", device="cpu")
    photo = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(2))
    result = deletion_insertion(prepared, photo, torch.rand(2, 2), 1, steps=40)
    assert len(result.deletion) == 41
    assert result.deletion[0] == pytest.approx(_probability(prepared, photo, target=1), abs=1e-6)
