"""Neuron atlases: files, manifest, resume, settings checks, torchrun sharding, the gallery in Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import featviz_command, files_written
from PIL import Image

import featviz
from featviz.cli import main
from featviz.reports.atlases import neuron as neuron_atlas
from featviz.reports.atlases.neuron import AtlasSettingsError

FAST = {"steps": 3, "size": 32, "progress": False}
TESTS = Path(__file__).resolve().parent


def _png(path: Path) -> torch.Tensor:
    with Image.open(path) as image:
        return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).float() / 255


def test_atlas_writes_images_grid_page_and_manifest(tiny, tmp_path) -> None:
    result = featviz.atlas(tiny, "conv3", range(6), tmp_path / "a", batch_size=4, **FAST)
    out = tmp_path / "a"
    assert sorted(p.name for p in (out / "channels").iterdir()) == [f"{c:04d}.png" for c in range(6)]
    assert result.grid == out / "grid.png" and result.index == out / "index.html"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["layer"] == "conv3" and manifest["steps"] == 3 and manifest["seed"] == 0
    assert manifest["provenance"]["torch"] == torch.__version__
    assert [e["channel"] for e in manifest["channels"]] == list(range(6))
    assert all(isinstance(e["score"], float) and e["seconds"] >= 0 for e in manifest["channels"])
    # channel c is exactly image c of one render of all channels (seeds follow the channel)
    reference = featviz.render(tiny, "conv3", channels=range(6), **FAST)
    for c in range(6):
        assert torch.allclose(_png(out / f"channels/{c:04d}.png"), reference.images[c], atol=1 / 255 + 1e-6)
    with Image.open(out / "grid.png") as grid:
        assert grid.size[0] > 3 * 32
    assert "conv3" in (out / "index.html").read_text()


def test_atlas_on_lite0_with_exemplars(tmp_path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    generator = np.random.default_rng(0)
    for i in range(5):
        array = (generator.random((80, 120, 3)) * 255).astype(np.uint8)
        Image.fromarray(array).save(photos / f"p{i}.png")
    result = featviz.atlas(
        "efficientnet_lite0",
        "blocks.2",
        [0, 5],
        tmp_path / "lite",
        steps=2,
        size=64,
        examples=photos,
        top_k=2,
        progress=False,
    )
    for entry in result.channels:
        assert len(entry["exemplars"]) == 2 and len(entry["exemplar_scores"]) == 2
        assert entry["exemplar_scores"][0] >= entry["exemplar_scores"][1]
        assert all((tmp_path / "lite" / f).exists() for f in entry["exemplars"])


def test_resume_redoes_nothing_and_misses_nothing(tiny, tmp_path, monkeypatch) -> None:
    calls: list[list[str]] = []
    real_render = neuron_atlas.render

    def crash_on_second_batch(model, targets, **kwargs):
        calls.append(list(targets))
        if len(calls) == 2:
            raise RuntimeError("process killed (simulated)")
        return real_render(model, targets, **kwargs)

    monkeypatch.setattr(neuron_atlas, "render", crash_on_second_batch)
    out = tmp_path / "r"
    with pytest.raises(RuntimeError, match="simulated"):
        featviz.atlas(tiny, "conv3", range(6), out, batch_size=2, **FAST)
    first = json.loads((out / "manifest.json").read_text())
    assert [e["channel"] for e in first["channels"]] == [0, 1]
    kept = (out / "channels/0000.png").stat().st_mtime_ns

    calls.clear()
    monkeypatch.setattr(
        neuron_atlas, "render", lambda m, t, **k: calls.append(list(t)) or real_render(m, t, **k)
    )
    result = featviz.atlas(tiny, "conv3", range(6), out, batch_size=2, **FAST)
    assert calls == [["conv3:2", "conv3:3"], ["conv3:4", "conv3:5"]]  # nothing redone
    assert [e["channel"] for e in result.channels] == list(range(6))  # nothing missing
    assert (out / "channels/0000.png").stat().st_mtime_ns == kept


def test_interrupt_keeps_finished_batches_only(tiny, tmp_path, monkeypatch) -> None:
    batches = {"n": 0}
    real_render = neuron_atlas.render

    def counted(*args, **kwargs):
        batches["n"] += 1
        return real_render(*args, **kwargs)

    def ctrl_c(module, inputs, output):
        if batches["n"] == 2 and torch.is_grad_enabled():  # an optimization step of batch 2
            batches["n"] += 1  # once
            raise KeyboardInterrupt

    monkeypatch.setattr(neuron_atlas, "render", counted)
    handle = tiny.conv1.register_forward_hook(ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        featviz.atlas(tiny, "conv3", range(4), tmp_path / "k", batch_size=2, **FAST)
    handle.remove()
    manifest = json.loads((tmp_path / "k/manifest.json").read_text())
    assert [e["channel"] for e in manifest["channels"]] == [0, 1]
    assert sorted(p.name for p in (tmp_path / "k/channels").iterdir()) == ["0000.png", "0001.png"]


def test_changed_settings_are_refused_unless_overwrite(tiny, tmp_path) -> None:
    out = tmp_path / "s"
    featviz.atlas(tiny, "conv3", range(2), out, **FAST)
    with pytest.raises(AtlasSettingsError, match="steps") as info:
        featviz.atlas(tiny, "conv3", range(2), out, **{**FAST, "steps": 4})
    assert "overwrite" in str(info.value) and isinstance(info.value, ValueError)
    result = featviz.atlas(tiny, "conv3", range(2), out, overwrite=True, **{**FAST, "steps": 4})
    assert result.manifest["steps"] == 4


def test_bad_layer_and_channels(tiny, tmp_path) -> None:
    with pytest.raises(featviz.LayerNotFoundError):
        featviz.atlas(tiny, "conv9", out_dir=tmp_path, **FAST)
    with pytest.raises(featviz.ChannelOutOfRangeError, match="0..15"):
        featviz.atlas(tiny, "conv3", [3, 16], tmp_path, **FAST)


def _cli_atlas(model: Path, out: Path, channels: str, steps: int) -> int:
    args = ["atlas", str(model), "conv3", "--channels", channels, "-o", str(out)]
    return main([*args, "--steps", str(steps), "--size", "32", "-q"])


def test_cli_atlas(tiny, tmp_path, capsys) -> None:
    model = tmp_path / "tiny.pt"
    torch.save(tiny, model)
    out = tmp_path / "cli"
    assert _cli_atlas(model, out, "0:3", steps=2) == 0
    assert "open" in capsys.readouterr().out
    assert (out / "index.html").exists() and len(list((out / "channels").iterdir())) == 3


def test_torchrun_two_ranks_make_the_same_files(tiny, tmp_path) -> None:
    model = tmp_path / "tiny.pt"
    torch.save(tiny, model)
    args = ["atlas", str(model), "conv3", "--channels", "0:5", "--steps", "2", "--size", "32"]
    args += ["--batch-size", "2", "-q"]
    single = featviz_command([*args, "-o", str(tmp_path / "one")])
    assert single.returncode == 0, single.stderr
    multi = featviz_command([*args, "-o", str(tmp_path / "two")], processes=2)
    assert multi.returncode == 0, multi.stderr[-2000:]
    files = files_written
    assert files(tmp_path / "one") == files(tmp_path / "two")
    for name in files(tmp_path / "one"):
        if name.startswith("channels/"):
            assert torch.allclose(_png(tmp_path / "one" / name), _png(tmp_path / "two" / name), atol=2 / 255)
    two = json.loads((tmp_path / "two/manifest.json").read_text())
    assert [e["channel"] for e in two["channels"]] == list(range(5))


def test_cli_spelling_out_defaults_resumes_a_python_atlas(tiny, tmp_path) -> None:
    model = tmp_path / "tiny.pt"
    torch.save(tiny, model)
    out = tmp_path / "same"
    featviz.atlas(torch.load(model, weights_only=False), "conv3", range(2), out, **FAST)
    before = (out / "channels/0000.png").stat().st_mtime_ns
    assert _cli_atlas(model, out, "0:3", steps=3) == 0
    assert (out / "channels/0000.png").stat().st_mtime_ns == before  # resumed, not redone
    assert len(list((out / "channels").iterdir())) == 3


def test_transparent_atlas_keeps_rgba_channels(tiny, tmp_path) -> None:
    result = featviz.atlas(tiny, "conv3", range(2), tmp_path / "a", alpha=True, **FAST)
    with Image.open(result.out_dir / "channels" / "0000.png") as png:
        assert png.mode == "RGBA"
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert manifest["render"] == {"alpha": "True"}


def test_a_full_disk_stops_the_atlas_with_a_clear_error_and_keeps_finished_channels(
    tiny, tmp_path, monkeypatch
) -> None:
    import errno

    from featviz import files, imaging

    real_save = imaging.save_image
    saved = {"n": 0}

    def disk_fills_up(image, path):
        if saved["n"] == 2:
            raise files.write_error(Path(path), OSError(errno.ENOSPC, "No space left on device"))
        saved["n"] += 1
        return real_save(image, path)

    monkeypatch.setattr(imaging, "save_image", disk_fills_up)
    out = tmp_path / "full"
    with pytest.raises(featviz.WriteError) as info:
        featviz.atlas(tiny, "conv3", range(4), out, batch_size=2, **FAST)
    message = str(info.value)
    assert "No space left" in message and "2 channel(s)" in message and "resumes" in message
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    monkeypatch.setattr(imaging, "save_image", real_save)
    calls: list[list[str]] = []
    real_render = neuron_atlas.render
    monkeypatch.setattr(
        neuron_atlas, "render", lambda m, t, **k: calls.append(list(t)) or real_render(m, t, **k)
    )
    featviz.atlas(tiny, "conv3", range(4), out, batch_size=2, **FAST)
    assert calls == [["conv3:2", "conv3:3"]]  # the rerun resumes


def test_cli_reports_a_full_disk_in_one_line(tiny, tmp_path, monkeypatch, capsys) -> None:
    import errno

    from featviz import files, imaging

    def full(image, path):
        raise files.write_error(Path(path), OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(imaging, "save_image", full)
    model = tmp_path / "tiny.pt"
    torch.save(tiny, model)
    argv = ["atlas", str(model), "conv3", "--channels", "0:2", "-o", str(tmp_path / "a"), "--steps", "2"]
    assert main([*argv, "--size", "32", "-q"]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert (
        last.startswith("featviz: error: could not write") and "rerunning" in last and "Traceback" not in err
    )


def test_an_atlas_with_a_function_as_preprocess_resumes(tiny, tmp_path) -> None:
    def grey_world(x):
        return (x - 0.5) / 0.25

    out = tmp_path / "fn"
    featviz.atlas(tiny, "conv3", range(2), out, preprocess=grey_world, **FAST)
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["render"]["preprocess"].endswith("grey_world")
        and "0x" not in manifest["render"]["preprocess"]
    )
    featviz.atlas(tiny, "conv3", range(3), out, preprocess=grey_world, **FAST)  # no AtlasSettingsError
    assert len(list((out / "channels").iterdir())) == 3


def test_atlas_with_several_renders_and_negatives(tiny, tmp_path) -> None:
    out = tmp_path / "k"
    featviz.atlas(tiny, "conv3", range(3), out, renders=2, negative=True, **FAST)
    names = sorted(p.name for p in (out / "channels").iterdir())
    assert names == sorted(f"{c:04d}{suffix}.png" for c in range(3) for suffix in ("", "_r1", "_neg"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["negative"] is True and manifest["render"]["renders"] == "2"
    for entry in manifest["channels"]:
        c = entry["channel"]
        assert entry["renders"] == [f"channels/{c:04d}.png", f"channels/{c:04d}_r1.png"]
        assert entry["negative"] == f"channels/{c:04d}_neg.png"
        assert entry["negative_score"] < min(entry["render_scores"])  # it turns the channel down
        response = featviz.metrics.unit_response(tiny, f"conv3:{c}", _png(out / entry["negative"])[None])
        assert float(response) == pytest.approx(entry["negative_score"], abs=0.05)
    page = (out / "index.html").read_text()
    assert "_neg.png" in page and "_r1.png" in page


def test_an_atlas_made_with_the_old_default_look_is_not_resumed_with_the_new_one(tiny, tmp_path) -> None:
    out = tmp_path / "old"
    featviz.atlas(tiny, "conv3", range(2), out, **FAST)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["picture_defaults"]  # as written before the held-contrast default
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AtlasSettingsError, match="picture_defaults=None"):
        featviz.atlas(tiny, "conv3", range(4), out, **FAST)
    featviz.atlas(tiny, "conv3", range(2), tmp_path / "plain", **FAST)
    with pytest.raises(AtlasSettingsError, match="negative"):  # negatives for some channels only
        featviz.atlas(tiny, "conv3", range(4), tmp_path / "plain", negative=True, **FAST)


def test_resume_redoes_a_channel_whose_extra_render_went_missing(tiny, tmp_path) -> None:
    out = tmp_path / "k"
    featviz.atlas(tiny, "conv3", range(2), out, renders=2, negative=True, **FAST)
    (out / "channels" / "0001_neg.png").unlink()
    before = (out / "channels" / "0000_r1.png").stat().st_mtime_ns
    featviz.atlas(tiny, "conv3", range(2), out, renders=2, negative=True, **FAST)
    assert (out / "channels" / "0001_neg.png").exists()
    assert (out / "channels" / "0000_r1.png").stat().st_mtime_ns == before  # channel 0 was kept


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_runs(tiny, tmp_path, capsys) -> None:
    import fcntl

    out = tmp_path / "atlas"
    out.mkdir()
    # Another process is rendering into the folder: it holds the folder's lock.
    script = (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
        "f.write('featviz pid 4242'); f.flush(); print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(out / ".lock.rank0")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(featviz.FolderBusyError, match="featviz pid 4242"):
            featviz.atlas(tiny, "conv3", range(2), out, steps=2, size=32, progress=False)
        assert not list(out.glob("channels/*.png"))  # nothing was rendered twice
        torch.save(tiny, tmp_path / "tiny.pt")
        assert (
            main(["atlas", str(tmp_path / "tiny.pt"), "conv3", "--channels", "0:2", "-o", str(out), "-q"])
            == 2
        )
        assert "is being written by featviz pid 4242" in capsys.readouterr().err
    finally:
        holder.kill()  # like kill -9: the lock ends with the process
        holder.wait()
    result = featviz.atlas(tiny, "conv3", range(2), out, steps=2, size=32, progress=False)
    assert len(result.channels) == 2
    with open(out / ".lock.rank0", "a+") as handle:  # released at the end of the run
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
