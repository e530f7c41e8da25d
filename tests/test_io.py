"""files and imaging: atomic writes and their permissions, reading images and folders, 8-bit, grids."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from featviz import files, imaging
from featviz.errors import InvalidArgumentError, WriteError


def _picture(path: Path, height: int = 8, width: int = 8, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_failed_write_leaves_no_temp_file_and_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    target = files.write_text("old", tmp_path / "page.html")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_text("new", target)
    with pytest.raises(KeyboardInterrupt):
        imaging.save_image(Image.new("RGB", (4, 4)), tmp_path / "image.png")
    assert os.listdir(tmp_path) == ["page.html"] and target.read_text() == "old"


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_files_get_the_mode_plain_open_would_give(tmp_path, mask) -> None:
    # The umask is process-wide, so a file another thread created meanwhile would get it too; pytest
    # runs tests in one thread, and the old umask is restored at once.
    old = os.umask(mask)
    try:
        written = [
            files.write_text("x", tmp_path / "a.txt"),
            imaging.save_image(Image.new("RGB", (2, 2)), tmp_path / "b"),
        ]
        with open(tmp_path / "plain.txt", "w") as handle:
            handle.write("x")
    finally:
        os.umask(old)
    for path in [*written, tmp_path / "plain.txt"]:
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path
    assert written[1].name == "b.png"


@pytest.mark.parametrize("call", ["write", "replace"])
def test_full_disk_raises_write_error_that_is_an_os_error(tmp_path, monkeypatch, call) -> None:
    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, call, full)
    for write in (
        lambda p: files.write_text("x", p),
        lambda p: imaging.save_image(Image.new("RGB", (2, 2)), p),
    ):
        with pytest.raises(WriteError) as caught:
            write(tmp_path / "out" / "f.png")
        assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOSPC
        message = str(caught.value)
        assert "f.png" in message and "No space left" in message and "not written" in message
    assert os.listdir(tmp_path / "out") == []


def test_image_files_sorted_recursive_case_insensitive(tmp_path) -> None:
    for name in ["b.png", "a.JPG", "sub/c.webp", "sub/deep/d.Jpeg"]:
        _picture(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "folder.png").mkdir()  # a folder with an image suffix is not an image
    expected = [tmp_path / n for n in ["a.JPG", "b.png", "sub/c.webp", "sub/deep/d.Jpeg"]]
    assert files.image_files(tmp_path) == expected
    assert files.image_files(str(tmp_path)) == expected


def test_image_files_errors_say_what_was_given(tmp_path) -> None:
    with pytest.raises(InvalidArgumentError, match="missing.* is not a folder: it does not exist"):
        files.image_files(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InvalidArgumentError, match="no .png/.jpg/.* images in .*add images"):
        files.image_files(tmp_path)
    with pytest.raises(InvalidArgumentError, match="notes.txt.* is not a folder but a file"):
        files.image_files(tmp_path / "notes.txt")


def test_load_folder_gives_resized_center_squares(tmp_path) -> None:
    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[:, :5, 0] = pixels[:, 15:, 0] = 255  # red margins, green center square
    pixels[:, 5:15, 1] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    _picture(tmp_path / "z.jpg", 30, 17)
    paths, images = imaging.load_folder(tmp_path, (10, 10))
    assert paths == [tmp_path / "wide.png", tmp_path / "z.jpg"] and images.shape == (2, 3, 10, 10)
    assert images.dtype == torch.float32 and images.min() >= 0 and images.max() <= 1
    assert torch.allclose(images[0, 1], torch.ones(10, 10)) and images[0, 0].max() < 1e-6
    assert imaging.load_folder(tmp_path, 6)[1].shape == (2, 3, 6, 6)


def test_a_damaged_image_names_itself(tmp_path) -> None:
    good = _picture(tmp_path / "good.png", 32, 32)
    (tmp_path / "bad.png").write_bytes(good.read_bytes()[:100])  # truncated
    for call in (lambda: imaging.load_folder(tmp_path, 8), lambda: imaging.load_images(tmp_path / "bad.png")):
        with pytest.raises(InvalidArgumentError, match="bad.png"):
            call()
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    with pytest.raises(InvalidArgumentError, match="bad.png"):
        imaging.load_folder(tmp_path, 8)


def test_load_images_accepts_every_form(tmp_path) -> None:
    path = _picture(tmp_path / "p.png", 6, 9)
    from_path = imaging.load_images(path)
    assert from_path.shape == (1, 3, 6, 9)
    with Image.open(path) as image:
        assert torch.equal(imaging.load_images(image), from_path)
        as_uint8 = torch.from_numpy(np.array(image)).permute(2, 0, 1)
    assert torch.equal(imaging.load_images(as_uint8), from_path)
    assert torch.equal(imaging.load_images(from_path[0]), from_path)
    assert imaging.load_images([path, str(path), from_path]).shape == (3, 3, 6, 9)
    assert imaging.load_images(path, (4, 4)).shape == (1, 3, 4, 4)


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (torch.rand(1, 8, 8), "RGB image tensor"),
        (torch.rand(2, 4, 8, 8), "RGB image tensor"),
        (torch.rand(8, 8), "RGB image tensor"),
        (torch.full((3, 4, 4), 1.5), r"must be in \[0, 1\]"),
        (torch.full((3, 4, 4), -0.1), r"must be in \[0, 1\]"),
        ([], "empty list"),
        (42, "got int"),
        ("no/such/file.png", "does not exist"),
    ],
)
def test_load_images_rejects_bad_input(images, match) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        imaging.load_images(images)


def test_to_uint8_rounds_clamps_and_moves_channels_last() -> None:
    values = torch.tensor([0.0, 0.2, 0.7, 100.4, 100.6, 255.0, 400.0, -100.0]) / 255
    assert imaging.to_uint8(values.view(1, 8, 1).expand(3, 8, 1)).shape == (8, 1, 3)
    assert imaging.to_uint8(values.view(1, 1, 8)).flatten().tolist() == [0, 0, 1, 100, 101, 255, 255, 0]
    assert imaging.to_uint8(torch.zeros(2, 3, 4, 5)).shape == (2, 4, 5, 3)


def test_grid_layout() -> None:
    canvas = imaging.grid(torch.zeros(5, 3, 4, 6), padding=2, background=1.0)
    assert canvas.shape == (3, 2 * (4 + 2) + 2, 3 * (6 + 2) + 2)  # 5 images: 3 per row, 2 rows
    assert canvas[:, 2:6, 2:8].max() == 0 and canvas[:, :2].min() == 1
    assert imaging.grid(torch.zeros(5, 3, 4, 6), ncol=5, padding=0).shape == (3, 4, 30)
    with pytest.raises(InvalidArgumentError):
        imaging.grid(torch.zeros(3, 4, 6))


def test_save_image_rejects_an_unknown_suffix(tmp_path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"\.xyz"):
        imaging.save_image(Image.new("RGB", (2, 2)), tmp_path / "a.xyz")
    assert os.listdir(tmp_path) == []
