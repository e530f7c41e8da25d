"""featviz.concepts and featviz.analysis.dictionary: planted directions recovered by both methods,
the planted head's concept ranked first and confirmed by deletion, quality against scikit-learn,
the saved dictionary, a resumable and deterministic sparse autoencoder, the page in Chromium,
the command line and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from chromium import check_page, needs_chromium
from conftest import assert_untouched, snapshot
from PIL import Image
from sklearn.metrics import r2_score
from torch import nn

import featviz
from featviz.analysis import dictionary as dictionaries
from featviz.errors import InvalidArgumentError, LayerNotFoundError

EVIL = "<img src=x onerror=alert(1)>.png"
FAST = {"steps": 8, "size": 32, "progress": False, "cache": False, "preprocess": "none"}
K, C = 4, 16


def _directions() -> torch.Tensor:
    """Four signed, non-axis-aligned unit directions in 16 channels (pairwise |cos| < 0.6)."""
    d = torch.randn(K, C, generator=torch.Generator().manual_seed(3))
    return d / d.norm(dim=1, keepdim=True)


class Planted(nn.Module):
    """``mix``: four colour detectors (red, green, blue, dark; each ReLU-ed) written into 16
    channels along four planted directions. The head pools ``mix`` and reads direction 0 for class
    0, directions 1 and 2 for classes 1 and 2."""

    def __init__(self) -> None:
        super().__init__()
        self.detect = nn.Conv2d(3, K, 1)
        self.mix = nn.Conv2d(K, C, 1, bias=False)
        self.head = nn.Linear(C, 3, bias=False)
        d = _directions()
        dark = -20 / 3  # on below a mean of 0.15, where no colour block reaches
        weights = [[5.0, 0, 0], [0, 5, 0], [0, 0, 5], [dark, dark, dark]]
        with torch.no_grad():
            self.detect.weight.copy_(torch.tensor(weights)[:, :, None, None])
            self.detect.bias.copy_(torch.tensor([-1.5, -1.5, -1.5, 3.0]))
            self.mix.weight.copy_(d.T[:, :, None, None])
            self.head.weight.copy_(torch.stack([3 * d[0], d[1], d[2]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mix(F.relu(self.detect(x))).mean((2, 3)))


def _photos(count: int = 24) -> torch.Tensor:
    """Photos of 8 × 8 blocks (28 px each, so the 224-px model input is exact), each block red,
    green or blue (brightness 0.5–1) or dark (below 0.06): one concept at each place."""
    generator = torch.Generator().manual_seed(0)
    palette = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
    kind = torch.randint(4, (count * 64,), generator=generator)
    level = torch.where(kind == 3, 0.06, 0.5) * torch.rand(count * 64, generator=generator)
    level = level + torch.where(kind == 3, 0.0, 0.5)
    colours = (palette[kind] * level[:, None]).reshape(count, 8, 8, 3).permute(0, 3, 1, 2)
    return colours.repeat_interleave(28, 2).repeat_interleave(28, 3).contiguous()


def _matched(found: torch.Tensor) -> torch.Tensor:
    """For each planted direction, the best cosine with a learned direction."""
    unit = found / found.norm(dim=1, keepdim=True)
    return (unit @ _directions().T).max(0).values


# -- known answers on the planted model ------------------------------------------------------------


@pytest.mark.parametrize(("method", "k"), [("nmf", K), ("sae", 2 * K)])
def test_planted_directions_are_recovered_and_the_head_s_concept_ranks_first(method: str, k: int) -> None:
    """One concept at each place, at varying strength, along non-axis-aligned directions: both
    methods find the four (the sparse autoencoder with twice the latents, one active)."""
    model = Planted()
    before = snapshot(model)
    found = featviz.concepts(
        model, "mix", _photos(), k=k, method=method, active=1, target=0, vectors=20_000, shown=k, **FAST
    )
    assert_untouched(model, before)
    cosines = _matched(found.dictionary.directions)
    assert bool((cosines >= 0.9).all()), cosines  # measured: nmf ≥ 0.999, sae ≥ 0.99
    top = found.concepts[0]
    assert float(found.dictionary.directions[top.index] @ _directions()[0]) > 0.9
    assert found.tests[0].class_index == 0 and top.index in found.tests[0].top
    assert found.tests[0].drop_top > found.tests[0].drop_random
    assert top.deletion is not None and top.deletion > max(c.deletion or 0 for c in found.concepts[1:])
    assert found.quality["r2"] > 0.95  # measured: nmf 0.999, sae 0.99
    assert [c.rank for c in found.concepts] == list(range(k))
    assert sum(c.share for c in found.concepts) == pytest.approx(1, abs=1e-4)  # every concept shown


def test_quality_equals_scikit_learn_r2_and_counts_active_concepts() -> None:
    generator = torch.Generator().manual_seed(1)
    codes = torch.rand(3000, K, generator=generator) * (torch.rand(3000, K, generator=generator) < 0.3)
    x = codes @ _directions() + 0.05 * torch.randn(3000, C, generator=generator)
    learned = dictionaries.learn_nmf(x, "mix", K)
    found = dictionaries.quality(learned, x)
    reconstruction = learned.decode(learned.encode(x))
    reference = r2_score(x.numpy(), reconstruction.numpy(), multioutput="variance_weighted")
    assert found["r2"] == pytest.approx(reference, abs=1e-4)
    on = learned.encode(x) > dictionaries.ACTIVE_SHARE * learned.encode(x).amax(1, keepdim=True)
    assert found["l0"] == pytest.approx(float(on.sum(1).float().mean()), rel=1e-5)
    assert 0 <= found["dead"] <= K


def test_contributions_add_up_and_deletion_removes_exactly_the_concepts() -> None:
    x = torch.randn(4000, C, generator=torch.Generator().manual_seed(2))
    learned = dictionaries.learn_nmf(x, "mix", 6)
    activation = torch.randn(2, C, 5, 5)
    gradient = torch.randn(2, C, 5, 5)
    codes, contribution = dictionaries.contributions(learned, activation, gradient)
    assert codes.shape == (2, 6, 5, 5) and bool((codes >= 0).all())
    rebuilt = torch.einsum("bkhw,kc->bchw", codes, learned.directions)
    assert torch.allclose(contribution.sum(1), (gradient * rebuilt).flatten(1).sum(1), atol=1e-4)
    removed = dictionaries.without(learned, activation, [1, 4])
    expected = activation - torch.einsum("bkhw,kc->bchw", codes[:, [1, 4]], learned.directions[[1, 4]])
    assert torch.allclose(removed, expected, atol=1e-5)


# -- the saved dictionary, the sparse autoencoder's training ---------------------------------------


def test_the_saved_dictionary_loads_with_weights_only(tmp_path) -> None:
    x = torch.randn(2000, C, generator=torch.Generator().manual_seed(4))
    for learned in (
        dictionaries.learn_nmf(x, "mix", 5),
        dictionaries.train_sae(x, "mix", k=32, active=4, epochs=2),
    ):
        assert learned is not None
        path = learned.save(tmp_path / f"{learned.method}.pt")
        state = torch.load(path, weights_only=True)
        assert state["method"] == learned.method and state["layer"] == "mix"
        again = dictionaries.load(path)
        assert torch.equal(again.encode(x[:50]), learned.encode(x[:50]))
        assert again.fingerprint() == learned.fingerprint()
    with pytest.raises(InvalidArgumentError, match="no concept dictionary at"):
        dictionaries.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a dictionary")
    with pytest.raises(InvalidArgumentError, match="not a concept dictionary featviz can read"):
        dictionaries.load(tmp_path / "junk.pt")
    torch.save({"format": 99}, tmp_path / "other.pt")
    with pytest.raises(InvalidArgumentError, match="not a featviz concept dictionary"):
        dictionaries.load(tmp_path / "other.pt")


def test_sae_training_is_deterministic_and_resumes_after_ctrl_c(tmp_path) -> None:
    x = torch.randn(3000, C, generator=torch.Generator().manual_seed(5))
    settings = {"k": 32, "active": 4, "epochs": 4, "batch": 256, "seed": 7}
    whole = dictionaries.train_sae(x, "mix", **settings)
    again = dictionaries.train_sae(x, "mix", **settings)
    assert whole is not None and again is not None
    assert torch.equal(whole.directions, again.directions) and torch.equal(whole.encoder, again.encoder)
    steps: list[int] = []

    def stop_in_epoch_three(step: int, total: int, loss: float) -> None:
        steps.append(step)
        if step == 2 * 12 + 5:  # 12 steps per epoch: part way through the third
            raise KeyboardInterrupt

    checkpoint = tmp_path / "sae.pt"
    stopped = dictionaries.train_sae(
        x, "mix", checkpoint=checkpoint, progress=stop_in_epoch_three, **settings
    )
    assert stopped is None and checkpoint.exists()  # two finished epochs kept
    resumed_steps: list[int] = []

    def record(step: int, total: int, loss: float) -> None:
        resumed_steps.append(step)

    resumed = dictionaries.train_sae(x, "mix", checkpoint=checkpoint, progress=record, **settings)
    assert resumed is not None and resumed_steps[0] == 2 * 12 + 1  # from the third epoch on
    assert torch.allclose(resumed.directions, whole.directions, atol=1e-6)
    assert not checkpoint.exists()
    other = dictionaries.train_sae(x, "mix", **{**settings, "seed": 8})
    assert other is not None and not torch.equal(other.directions, whole.directions)


# -- the report: page, record, command line, errors ------------------------------------------------


@needs_chromium
def test_the_page_in_chromium_with_hostile_names(tmp_path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, photo in enumerate(_photos(8)):
        name = EVIL if i == 0 else f"{i}.png"
        Image.fromarray((photo.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(folder / name)
    found = featviz.concepts(Planted(), "mix", folder, k=K, target=0, exemplars=8, **FAST)
    page = found.save(tmp_path / "out")
    record = json.loads((tmp_path / "out" / "concepts.json").read_text())
    assert record["quality"]["r2"] == pytest.approx(found.quality["r2"], abs=1e-4)
    assert len(record["concepts"]) == K and record["deletion_tests"][0]["class"] == 0
    assert record["provenance"]["settings"]["k"] == K
    shown = check_page(page, tmp_path, "1300,1400")
    assert shown.loaded is not None and shown.loaded[0] == shown.loaded[1]
    assert shown.loaded[1] == K + sum(len(c.exemplars) for c in found.concepts)  # every picture decodes
    sources = [s for c in found.concepts for s in c.exemplar_sources]
    assert EVIL in sources and EVIL in shown.elements.texts()  # the hostile name, as text
    assert torch.load(tmp_path / "out" / "dictionary.pt", weights_only=True)["layer"] == "mix"
    notebook = found._repr_html_()
    assert "R&#178;" in notebook and EVIL not in notebook and "&lt;img src=x" in notebook


def test_the_command_line(tmp_path, capsys) -> None:
    from featviz.cli import main

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, photo in enumerate(_photos(8)):
        Image.fromarray((photo.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(folder / f"{i}.png")
    torch.save(Planted(), tmp_path / "planted.pt")
    out = tmp_path / "out"
    argv = ["concepts", str(tmp_path / "planted.pt"), "mix", str(folder), "-o", str(out), "-k", "4"]
    argv += ["--target", "0", "--steps", "4", "--size", "32", "--no-cache", "-q"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "nmf: 4 concepts" in printed and "ranked for class 0 (0)" in printed
    assert (out / "index.html").exists() and (out / "dictionary.pt").exists()
    argv = ["concepts", str(tmp_path / "planted.pt"), "mix", str(folder), "-o", str(tmp_path / "sae")]
    argv += ["--method", "sae", "-k", "8", "--active", "3", "--epochs", "2", "--no-render", "-q"]
    assert main(argv) == 0
    assert "sae: 8 concepts" in capsys.readouterr().out
    assert not (tmp_path / "sae" / ".sae-checkpoint.pt").exists()  # removed once trained


@pytest.mark.parametrize(
    ("keywords", "error", "message"),
    [
        ({"method": "pca"}, InvalidArgumentError, "method must be one of nmf, sae, got 'pca'"),
        ({"k": 1}, InvalidArgumentError, "k must be an int >= 2"),
        ({"target": 7}, InvalidArgumentError, "target must be a class index from 0 to 2, got 7"),
        ({"vectors": 5}, InvalidArgumentError, "vectors must be an int >= 16"),
        ({"method": "sae", "k": 8, "active": 8}, InvalidArgumentError, "active must be from 1 to k - 1 = 7"),
    ],
)
def test_bad_settings_get_clear_errors_before_any_work(keywords, error, message) -> None:
    with pytest.raises(error, match=message):
        featviz.concepts(Planted(), "mix", _photos(4), **{**FAST, **keywords})


def test_bad_layers_and_photos_get_clear_errors(tmp_path) -> None:
    with pytest.raises(LayerNotFoundError):
        featviz.concepts(Planted(), "nope", _photos(4), **FAST)
    with pytest.raises(InvalidArgumentError, match="photos must be a folder or an"):
        featviz.concepts(Planted(), "mix", [1, 2], **FAST)
    with pytest.raises(InvalidArgumentError, match="too few to learn"):
        featviz.concepts(Planted(), "mix", _photos(1), k=12, vectors=16, **FAST)


def test_the_vectors_cap_bounds_the_sample_even_with_more_photos_than_vectors() -> None:
    found = featviz.concepts(Planted(), "mix", _photos(40), k=2, vectors=16, render=False, **FAST)
    assert found.vectors == 16 and found.photos == 40
    found = featviz.concepts(Planted(), "mix", _photos(6), k=2, vectors=100, render=False, **FAST)
    assert found.vectors == 100  # 16 or 17 from each photo


class _Twice(nn.Module):
    """One ReLU module called twice: on the input, then on the input plus one."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.relu(self.conv(x))
        return (first + self.relu(first + 1)).mean((2, 3))


def test_an_edit_changes_only_the_layers_first_call() -> None:
    prepared = featviz.prepare(_Twice(), preprocess="none")
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    edited = prepared.output_edited(images, "relu", torch.zeros_like)
    assert torch.allclose(edited, torch.ones(2, 2))  # 0 + relu(0 + 1): the second call untouched
