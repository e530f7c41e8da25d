"""featviz.explain with a concept dictionary: the concepts that add most to the class, their
contributions against a direct computation, the page and notebook section, errors, the CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from chromium import check_page, needs_chromium
from conftest import TinyCNN
from PIL import Image

from featviz import cli
from featviz.analysis import dictionary
from featviz.errors import InvalidArgumentError
from featviz.model.prepared import Prepared, prepare
from featviz.model.preprocess import Preprocess
from featviz.rendering.cache import direction_what
from featviz.rendering.queue import RenderQueue
from featviz.reports.explanation.report import CONCEPTS, explain

LAYER = "relu3"
FAST = {"steps": 2, "size": 32, "grid": 2, "groups": 0, "top": 1, "faithfulness": False, "progress": False}


def _model() -> TinyCNN:
    """The tiny CNN, which takes 48 px photos (a 24x24 grid at relu3: the test stays quick)."""
    torch.manual_seed(0)  # the fixture's weights only; featviz never reads the global seed
    model = TinyCNN()
    model.featviz_preprocess = Preprocess(input_size=(48, 48), source="the test's")
    return model


def _photo() -> torch.Tensor:
    return torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """A tiny model and an NMF dictionary of 8 concepts of its relu3, saved as dictionary.pt."""
    model = _model()
    photos = torch.rand(4, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    acts = prepare(model).activations(photos, {LAYER})[LAYER]
    vectors = acts.permute(0, 2, 3, 1).reshape(-1, acts.shape[1])
    found = dictionary.learn_nmf(vectors, LAYER, k=8, iterations=50)
    path = found.save(tmp_path_factory.mktemp("concepts") / "dictionary.pt")
    return model, found, path


@pytest.fixture(scope="module")
def explained(learned, tmp_path_factory):
    """The explanation with the dictionary (its first record kept, before any render) and its folder."""
    model, found, path = learned
    out = tmp_path_factory.mktemp("explained") / "report"
    first: list[tuple[dict, list[str]]] = []
    real = RenderQueue.run

    def run(queue: RenderQueue, after=None):  # noqa: ANN001, ANN202 - what the folder holds at the first render
        record = json.loads((out / "explanation.json").read_text(encoding="utf-8"))
        first.append((record, list(queue._jobs)))
        return real(queue, after)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RenderQueue, "run", run)
        exp = explain(model, _photo(), ["conv2", LAYER], concepts=path, cache=False, out_dir=out, **FAST)
    return exp, out, first[0]


def test_the_record_keeps_the_concepts_that_add_most_with_maps_on_the_layers_grid(learned, explained) -> None:
    model, found, _ = learned
    exp, out, _ = explained
    concepts = exp.concepts
    assert concepts is not None
    assert (concepts.method, concepts.layer, concepts.size) == ("nmf", LAYER, 8)
    assert concepts.fingerprint == found.fingerprint()
    grid = next(info.spatial for info in prepare(model).layers() if info.layer == LAYER)
    assert concepts.grid_shape == tuple(grid) == exp.layer(LAYER).grid_shape
    kept = concepts.concepts
    assert 1 <= len(kept) <= CONCEPTS
    values = [c.contribution for c in kept]
    assert values == sorted(values, reverse=True) and values[-1] > 0
    for c in kept:
        assert c.map.shape == grid and float(c.map.min()) >= 0
        assert c.share == pytest.approx(c.contribution / concepts.positive)
        assert torch.equal(c.direction, found.directions[c.concept])
        assert c.render.image is not None and c.render.image.shape == (3, 32, 32)
    record = json.loads((out / "explanation.json").read_text(encoding="utf-8"))["concepts"]
    assert record["method"] == "nmf" and record["layer"] == LAYER and record["size"] == 8
    assert record["fingerprint"] == found.fingerprint() and record["grid"] == list(grid)
    assert [c["concept"] for c in record["concepts"]] == [c.concept for c in kept]
    assert np.array(record["concepts"][0]["map"]).shape == grid
    assert record["concepts"][0]["share"] == pytest.approx(kept[0].share, abs=1e-5)
    assert exp.to_dict()["concepts"]["concepts"][0]["concept"] == kept[0].concept


def test_contributions_add_up_to_gradient_times_the_reconstruction(learned, explained) -> None:
    model, found, _ = learned
    exp, _, _ = explained
    prepared = prepare(model)
    acts, grads, _ = prepared.gradients(exp.photo[None], [LAYER], lambda out: out[:, exp.target])
    act, grad = acts[LAYER].cpu(), grads[LAYER].cpu()
    # written out: each concept's code at every position times the gradient along its direction
    codes = dictionary.concept_maps(found, act)[0]  # (k, H, W)
    along = torch.stack([(grad[0] * d[:, None, None]).sum(0) for d in found.directions])  # (k, H, W)
    direct = (codes * along).sum((1, 2)).double()
    reconstruction = torch.einsum("khw,kc->chw", codes, found.directions)  # decode(codes) - bias
    assert float(direct.sum()) == pytest.approx(float((grad[0] * reconstruction).sum()), rel=1e-4, abs=1e-7)
    concepts = exp.concepts
    assert concepts is not None
    assert concepts.total == pytest.approx(float(direct.sum()), rel=1e-4, abs=1e-7)
    assert concepts.positive == pytest.approx(float(direct.clamp(min=0).sum()), rel=1e-4, abs=1e-7)
    expected = [i for i in direct.argsort(descending=True).tolist() if direct[i] > 0][:CONCEPTS]
    assert [c.concept for c in concepts.concepts] == expected
    for c in concepts.concepts:
        assert c.contribution == pytest.approx(float(direct[c.concept]), rel=1e-4, abs=1e-8)
        assert torch.allclose(c.map, codes[c.concept], atol=1e-6)


def test_concept_renders_go_through_the_render_queue_pending_on_the_first_page_then_cached(
    learned, explained, tmp_path
) -> None:
    model, found, path = learned
    exp, _, (first, jobs) = explained
    assert first["rendering"] and first["concepts"]["concepts"]  # the numbers, before any render
    assert all(c["render"] is None for c in first["files"]["concepts"]["concepts"])
    assert all(direction_what(LAYER, c.direction) in jobs for c in exp.concepts.concepts)
    again = [
        explain(model, _photo(), [LAYER], concepts=found, cache=tmp_path / "c", **FAST) for _ in range(2)
    ]
    assert again[0].rendered > 0 and again[1].rendered == 0
    assert all(c.render.cached for c in again[1].concepts.concepts)


@needs_chromium
def test_page_shows_the_concepts_section_with_labelled_pictures_and_a_legend(explained, tmp_path) -> None:
    exp, out, _ = explained
    page = check_page(out / "index.html", tmp_path, "1300,3000")
    assert page.loaded and page.loaded[0] == page.loaded[1], page.stderr[-2000:]
    dom = page.elements
    assert any(text == "Concepts in this photo" for _, _, text in dom.all("h2"))
    texts = " ".join(dom.texts())
    assert "A concept is a direction in relu3" in texts and "NMF dictionary of 8 concepts" in texts
    pictures = [attrs for _, attrs, _ in dom.all("img") if attrs.get("src", "").startswith("concept")]
    renders = [a for a in pictures if re.fullmatch(r"concept\d+\.jpg", a["src"])]
    maps = [a for a in pictures if re.fullmatch(r"concept\d+_map\.jpg", a["src"])]
    assert len(renders) == len(maps) == len(exp.concepts.concepts)
    assert all(a["alt"].startswith("render: concept ") for a in renders)
    assert all(a["alt"].startswith("map (strength scale): concept ") for a in maps)
    legends = [a for _, a, _ in dom.all("img") if a.get("alt", "").startswith("colour scale")]
    assert len(legends) == 2 * (1 + len(exp.layers)) + 1  # and one beside the concepts


@needs_chromium
def test_the_first_page_marks_the_concept_renders_as_not_rendered(learned, tmp_path) -> None:
    model, _, path = learned
    exp = explain(model, _photo(), [LAYER], concepts=path, render=False, **FAST)
    page = check_page(exp.save(tmp_path / "report"), tmp_path)
    texts = [text for _, attrs, text in page.elements.elements if attrs.get("class") == "missing"]
    assert len(texts) >= len(exp.concepts.concepts) and set(texts) == {"not rendered"}
    assert any(text == "Concepts in this photo" for _, _, text in page.elements.all("h2"))


def test_notebook_view_shows_the_concepts(explained) -> None:
    exp, _, _ = explained
    view = exp._repr_html_()
    assert (
        "Concepts in this photo" in view and "render: relu3 concept" in view and "map: relu3 concept" in view
    )
    assert view.count("data:image/png;base64,") >= 2 + 3 * len(exp.layers) + 2 * len(exp.concepts.concepts)


def test_a_dictionary_of_another_layer_or_width_is_refused_before_any_work(
    learned, tmp_path, monkeypatch
) -> None:
    model, found, _ = learned

    def no_work(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the model ran before the dictionary was checked")

    monkeypatch.setattr(Prepared, "gradients", no_work)
    out = tmp_path / "report"
    cases = {
        "conv9": "learned at layer 'conv9', which this model (TinyCNN) does not have",
        "relu1": "16-channel directions, but this model's layer 'relu1' has 8 channels",
        "fc": "layer 'fc' has output shape (10,), no spatial grid",
    }
    for layer, message in cases.items():
        other = dictionary.Dictionary("nmf", layer, found.directions, found.bias)
        with pytest.raises(InvalidArgumentError, match=re.escape(message)) as error:
            explain(model, _photo(), [LAYER], concepts=other, out_dir=out, **FAST)
        assert layer == "fc" or "featviz concepts MODEL LAYER PHOTO_DIR" in str(error.value)
    narrow = dictionary.Dictionary("nmf", LAYER, found.directions[:, :8], torch.zeros(8))
    with pytest.raises(
        InvalidArgumentError, match="8-channel directions, but this model's layer 'relu3' has 16"
    ):
        explain(model, _photo(), [LAYER], concepts=narrow, out_dir=out, **FAST)
    assert not (out / "index.html").exists()


def test_a_missing_or_unreadable_dictionary_file_is_a_clear_error(learned, tmp_path) -> None:
    model, _, _ = learned
    with pytest.raises(InvalidArgumentError, match="no concept dictionary at .*featviz concepts"):
        explain(model, _photo(), [LAYER], concepts=tmp_path / "missing.pt", **FAST)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a dictionary", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="is not a concept dictionary"):
        explain(model, _photo(), [LAYER], concepts=junk, **FAST)
    with pytest.raises(InvalidArgumentError, match="concepts must be the path of a dictionary.pt"):
        explain(model, _photo(), [LAYER], concepts=3, **FAST)  # type: ignore[arg-type]


def test_cli_explain_takes_a_concept_dictionary(learned, tmp_path, capsys) -> None:
    model, found, path = learned
    model_path = tmp_path / "tiny.pt"
    torch.save(model, model_path)
    photo_path = tmp_path / "photo.png"
    Image.fromarray((_photo().permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(photo_path)
    argv = ["explain", str(model_path), str(photo_path), "-o", str(tmp_path / "out"), "--layers", LAYER]
    argv += ["--grid", "2", "--groups", "0", "--top", "1", "--steps", "2", "--size", "32", "-q"]
    argv += ["--no-cache", "--no-faithfulness"]
    assert cli.main([*argv, "--concepts", str(path)]) == 0
    record = json.loads((tmp_path / "out" / "explanation.json").read_text(encoding="utf-8"))
    assert record["concepts"]["fingerprint"] == found.fingerprint() and record["concepts"]["concepts"]
    assert cli.main([*argv, "--concepts", str(tmp_path / "none.pt")]) == 2
    assert "no concept dictionary at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["explain", "--help"])
    assert "dictionary.pt written by `featviz concepts`" in " ".join(capsys.readouterr().out.split())
