"""featviz.rng: per-image seeds that do not depend on the batch, and independent generator streams."""

from __future__ import annotations

import pytest
import torch

from featviz import rng
from featviz.errors import InvalidArgumentError


def test_seeds_from_an_int_are_deterministic_and_independent_of_n() -> None:
    seeds = rng.image_seeds(7, 5)
    assert isinstance(seeds, rng.ImageSeeds) and seeds == rng.image_seeds(7, 5)
    assert seeds[:3] == rng.image_seeds(7, 3)
    assert len(set(seeds)) == 5 and all(0 <= s < 2**64 for s in seeds)
    assert rng.image_seeds(8, 5) != seeds
    assert rng.image_seeds(-1, 2) == rng.image_seeds(2**64 - 1, 2)  # seeds are taken mod 2**64


def test_image_seed_is_one_element_of_image_seeds() -> None:
    for n in (1, 4, 9):
        seeds = rng.image_seeds(123, n)
        assert [rng.image_seed(123, i) for i in range(n)] == list(seeds)


def test_image_seeds_keeps_already_derived_seeds() -> None:
    seeds = rng.image_seeds(3, 8)
    chunk = rng.ImageSeeds(seeds[2:5])
    assert rng.image_seeds(chunk, 3) is chunk
    assert list(chunk) == [rng.image_seed(3, i) for i in range(2, 5)]
    with pytest.raises(InvalidArgumentError):
        rng.image_seeds(chunk, 4)  # not kept: then it is an ordinary list of the wrong length


def test_a_list_gives_each_image_its_own_seed() -> None:
    seeds = rng.image_seeds([5, 6, 7], 3)
    assert seeds == rng.image_seeds((5, 6, 7), 3) and len(set(seeds)) == 3
    assert rng.image_seeds([6, 7], 2) == seeds[1:]  # each seed is used on its own


@pytest.mark.parametrize(
    ("seed", "n"),
    [([1, 2], 3), ([1, 2, 3], 2), ([1, 2.0], 2), ([True, 1], 2), (True, 1), (1.5, 1), ("ab", 2), (None, 1)],
)
def test_bad_seeds_are_rejected(seed, n) -> None:
    with pytest.raises(InvalidArgumentError, match="seed"):
        rng.image_seeds(seed, n)


def test_generator_streams_are_reproducible_and_distinct() -> None:
    state = torch.random.get_rng_state()
    seed = rng.image_seed(0, 0)

    def draw(image_seed: int, stream: int) -> torch.Tensor:
        return torch.rand(16, generator=rng.generator(image_seed, stream))

    assert torch.equal(draw(seed, rng.INIT), draw(seed, rng.INIT))
    draws = [draw(seed, rng.INIT), draw(seed, rng.TRANSFORMS), draw(seed, rng.BACKGROUNDS)]
    draws.append(draw(rng.image_seed(0, 1), rng.INIT))
    for i in range(len(draws)):
        for j in range(i):
            assert not torch.equal(draws[i], draws[j]), (i, j)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is untouched
