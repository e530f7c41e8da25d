"""Every writer against a hostile user: each case ends in a featviz error (exit 2 on the command line)
that says what was given and what is expected — before any render or sweep — or in a correct result.

The table of these cases and their outcomes is in benchmarks/RESULTS.md ("Hostile inputs").
"""

from __future__ import annotations

import errno
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import featviz
from featviz import files
from featviz.cli import main
from featviz.reports.atlases.activation import atlas_key

# What loading the test's model file says first (the CLI warns that unpickling runs code).
PICKLE_NOTE = (
    "featviz: loading {} as a pickled module, which runs code from the file; only use files you trust\n"
)


@pytest.fixture
def setup(tiny, tmp_path, monkeypatch):
    """The tiny model as a file, a folder of photos, and a count of every render and sweep."""
    model = tmp_path / "tiny.pt"
    torch.save(tiny, model)
    photos = tmp_path / "photos"
    for i in range(6):
        (photos / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        picture = np.random.default_rng(i).integers(0, 255, (40, 48, 3), np.uint8)
        Image.fromarray(picture).save(photos / f"c{i % 2}" / f"{i}.png")
    work: list[str] = []
    from featviz.model.prepared import Prepared
    from featviz.rendering import optimize as step_loop

    optimize, each_batch = step_loop.optimize, Prepared.each_batch
    monkeypatch.setattr(step_loop, "optimize", lambda *a, **k: work.append("render") or optimize(*a, **k))
    monkeypatch.setattr(Prepared, "each_batch", lambda *a, **k: work.append("sweep") or each_batch(*a, **k))
    return {"model": str(model), "photos": str(photos), "out": str(tmp_path / "out"), "work": work}


def _fails_first(argv: list[str], setup, capsys, message: str) -> None:
    """The command exits 2 with one featviz error line containing ``message``, having done no work."""
    assert main(argv) == 2
    err = capsys.readouterr().err.replace(PICKLE_NOTE.format(setup["model"]), "")
    assert err.startswith("featviz: error:") and err.count("\n") == 1 and message in err, err
    assert setup["work"] == [] and not (Path(setup["out"]) / "index.html").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diagnose", "{model}", "{photos}", "--layers", ","], "at least one layer"),
        (["microscope", "{model}", "--layers", ","], "at least one layer"),
        (["explain", "{model}", "{photos}/c0/0.png", "--layers", ","], "at least one layer"),
        (["microscope", "{model}", "--batch-size", "-1"], "batch_size must be a positive int"),
        (["microscope", "{model}", "--batch-size", "0"], "batch_size must be a positive int"),
        (["atlas", "{model}", "conv3", "--batch-size", "0"], "batch_size must be a positive int"),
        (
            ["activation-atlas", "{model}", "conv3", "{photos}", "--grid", "100000"],
            "grid must be a positive int (at most 128)",
        ),
        (
            ["activation-atlas", "{model}", "conv3", "{photos}", "--grid", "0"],
            "grid must be a positive int (at most 128)",
        ),
        (["microscope", "{model}", "--atlas-grid", "0"], "atlas_grid must be a positive int (at most 128)"),
        (["microscope", "{model}", "--examples", "nope"], "examples: 'nope' is not a folder"),
        (["atlas", "{model}", "conv3", "--examples", "nope"], "examples: 'nope' is not a folder"),
        (["diagnose", "{model}", "{photos}", "--compare", "nosuchmodel"], "nosuchmodel"),
        (["explain", "{model}", "{photos}"], "is a folder, but one image file is expected"),
        (["explain", "{model}", "{photos}/c0/0.png", "--grid", "0"], "grid must be a positive int"),
        (["explain", "{model}", "{photos}/c0/0.png", "--size", "0x5"], "size must be"),
    ],
)
def test_bad_command_lines_fail_before_any_work(argv, message, setup, capsys) -> None:
    _fails_first([a.format(**setup) for a in argv] + ["-o", setup["out"], "-q"], setup, capsys, message)


def test_cka_with_too_few_images_fails_before_the_sweep(setup, tiny, monkeypatch) -> None:
    from featviz.reports.diagnosis import report

    swept = []
    monkeypatch.setattr(report, "_sweep", lambda *a, **k: swept.append(1))
    with pytest.raises(featviz.InvalidArgumentError, match="at least 4 images"):
        featviz.diagnose(tiny, torch.rand(3, 3, 32, 32), compare=tiny, progress=False)
    assert swept == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: featviz.explain(m, torch.full((3, 32, 32), math.nan), ["conv3"], render=False), "NaN"),
        (lambda m: featviz.explain(m, torch.rand(3, 32, 32), [], render=False), "at least one layer"),
        (
            lambda m: featviz.activation_atlas(m, "conv3", torch.rand(4, 3, 32, 32) * 3, render=False),
            "[0, 1]",
        ),
        (lambda m: featviz.activation_atlas(m, "conv3", torch.rand(4, 3, 32, 32), grid=129), "at most 128"),
        (lambda m: featviz.diagnose(m, torch.rand(0, 3, 32, 32)), "at least one image"),
        (lambda m: featviz.diagnose(m, torch.rand(4, 3, 32, 32), batch=0), "batch must be"),
        (lambda m: featviz.microscope(m, "site", channels=True), "channels must be"),
        (lambda m: featviz.microscope(m, "site", layers=[]), "at least one layer"),
    ],
)
def test_bad_python_arguments_get_featviz_errors(call, message, tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(featviz.FeatvizError) as info:
        call(tiny)
    assert message in str(info.value)
    assert not (tmp_path / "site" / "index.html").exists()


def test_a_full_disk_at_the_folder_lock_is_a_featviz_error(tmp_path, monkeypatch) -> None:
    class Full:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.real = open(*args, **kwargs)  # noqa: SIM115 - closed below

        def __getattr__(self, name: str) -> object:
            return getattr(self.real, name)

        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self) -> None:
            self.real.close()

    monkeypatch.setattr(files, "open", Full, raising=False)
    with (
        pytest.raises(featviz.WriteError, match="No space left") as info,
        files.folder_lock(tmp_path, "lock", "x"),
    ):
        pass
    assert info.value.errno == errno.ENOSPC


def test_a_non_square_size_is_taken(tiny, tmp_path) -> None:
    explanation = featviz.explain(
        tiny, torch.rand(3, 32, 32), ["conv3"], size=(24, 40), steps=1, cache=False, progress=False
    )
    assert explanation.layer("conv3").top[0].render.image.shape == (3, 24, 40)


def test_an_activation_atlas_is_remade_when_what_made_it_changes(tmp_path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(photos / f"{i}.png")
    settings = {"steps": 3, "size": 32, "seed": 0}

    def key(**change: object) -> str:
        made = {
            "photos": photos,
            "fingerprint": "m",
            "layer": "conv3",
            "grid": 4,
            "vectors": 100,
            "min_count": None,
            "layout": "umap",
            "settings": settings,
            **change,
        }
        return atlas_key(**made)  # type: ignore[arg-type]

    first = key()
    assert key() == first  # the same things: reused
    assert key(settings={**settings, "seed": 1}) != first  # another seed
    assert key(fingerprint="other weights") != first and key(grid=5) != first
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(photos / "1.png")  # a photo's contents
    assert key() != first
    (photos / "1.png").rename(photos / "9.png")  # or its name
    assert key() != first


def test_the_work_counter_sees_renders(setup) -> None:
    """The counter the tests above rely on does see a command's renders."""
    argv = ["explain", setup["model"], f"{setup['photos']}/c0/0.png", "--layers", "conv3", "--steps", "1"]
    assert main([*argv, "--no-cache", "--grid", "1", "--groups", "0", "-o", setup["out"], "-q"]) == 0
    assert "render" in setup["work"]


def test_a_full_render_cache_does_not_stop_an_explanation(tiny, tmp_path, monkeypatch) -> None:
    from featviz import imaging

    real = imaging.save_image

    def full(image, path):  # the cache's disk is full; the report's own folder is not
        if str(path).startswith(str(tmp_path / "cache")):
            raise files.write_error(Path(path), OSError(errno.ENOSPC, "No space left on device"))
        return real(image, path)

    monkeypatch.setattr(imaging, "save_image", full)
    with pytest.warns(UserWarning, match="render cache cannot be written"):
        explanation = featviz.explain(
            tiny, torch.rand(3, 32, 32), ["conv3"], steps=1, size=32, cache=tmp_path / "cache", progress=False
        )
    assert not explanation.interrupted and explanation.rendered > 0
    assert all(c.render.image is not None for c in explanation.layer("conv3").top)
    assert explanation.save(tmp_path / "report").is_file()


def test_ctrl_c_never_leaves_an_old_page_over_new_files(tiny, tmp_path, monkeypatch) -> None:
    out = tmp_path / "atlas"
    featviz.atlas(tiny, "conv3", range(2), out, steps=2, size=32, progress=False)
    assert (out / "index.html").is_file()
    from featviz.rendering import batching

    def ctrl_c(plan):  # Ctrl-C while the CPU batch size is being measured
        raise KeyboardInterrupt

    monkeypatch.setattr(batching, "measured_batch_size", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        featviz.atlas(tiny, "conv3", range(2), out, steps=3, size=32, overwrite=True, progress=False)
    assert not (out / "index.html").exists()  # no page rather than the steps=2 page over new work
    monkeypatch.undo()
    result = featviz.atlas(tiny, "conv3", range(2), out, steps=3, size=32, overwrite=True, progress=False)
    assert result.index is not None and result.index.is_file() and result.manifest["steps"] == 3


def test_an_atlas_made_with_other_weights_or_version_is_not_resumed(tiny, tmp_path) -> None:
    out = tmp_path / "atlas"
    featviz.atlas(tiny, "conv3", range(2), out, steps=2, size=32, progress=False)
    with torch.no_grad():
        tiny.conv1.weight.add_(0.1)  # fine-tuned: the same architecture, other weights
    with pytest.raises(featviz.AtlasSettingsError, match="weights"):
        featviz.atlas(tiny, "conv3", range(2), out, steps=2, size=32, progress=False)
    other = tmp_path / "other"
    featviz.atlas(tiny, "conv3", range(2), other, steps=2, size=32, progress=False)
    manifest = files.read_json(other / "manifest.json")
    files.write_json({**manifest, "featviz": "0.0.1"}, other / "manifest.json")  # an older featviz made it
    with pytest.raises(featviz.AtlasSettingsError, match="featviz='0.0.1'") as info:
        featviz.atlas(tiny, "conv3", range(2), other, steps=2, size=32, progress=False)
    assert "weights" not in str(info.value)


def test_logits_that_are_never_positive_are_not_called_dead(tiny) -> None:
    with torch.no_grad():
        tiny.fc.bias.fill_(-100.0)  # every logit negative on every image
    diagnosis = featviz.diagnose(
        tiny, torch.rand(6, 3, 32, 32), layers=["fc", "relu3"], render=False, progress=False
    )
    assert diagnosis.layer("fc").dead == [] and not any("dead" in f for f in diagnosis.layer("fc").flags)
