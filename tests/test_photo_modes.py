"""One photo reader: every writer sees a photo as its camera or scanner meant it — upright (EXIF),
16-bit at full range, transparency over a stated background, every PIL mode as RGB."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import featviz
from featviz.imaging import BACKGROUND, load_images, photo_array, read_photo

skimage_data = pytest.importorskip("skimage.data")


def _asymmetric() -> np.ndarray:
    """An RGB picture that no rotation or flip maps onto itself."""
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    picture[:4, :8] = (255, 0, 0)  # a red corner at the top left
    return picture


def test_a_16_bit_grey_png_is_read_at_its_full_range(tmp_path) -> None:
    camera = skimage_data.camera()
    Image.fromarray(camera.astype(np.uint16) * 257).save(tmp_path / "camera16.png")
    Image.fromarray(camera).save(tmp_path / "camera8.png")
    deep, flat = read_photo(tmp_path / "camera16.png"), read_photo(tmp_path / "camera8.png")
    assert deep.shape == flat.shape == (3, *camera.shape)
    assert float((deep - flat).abs().max()) < 1e-6  # 257 * v / 65535 == v / 255
    assert 0.3 < float(deep.mean()) < 0.7  # not all white


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_the_exif_orientation_is_applied(tmp_path, orientation) -> None:
    upright = Image.fromarray(_asymmetric())
    # what a camera stores for each orientation: the sensor's pixels, which the tag turns upright
    stored = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    upright.transpose(stored).save(tmp_path / "photo.jpg", exif=exif, quality=100, subsampling=0)
    seen = read_photo(tmp_path / "photo.jpg")
    expected = torch.from_numpy(_asymmetric()).permute(2, 0, 1).float() / 255
    assert seen.shape == expected.shape
    assert float((seen - expected).abs().mean()) < 0.02  # JPEG noise only


def test_transparency_is_composited_over_the_stated_background(tmp_path) -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # red everywhere...
    rgba[:, :4, 3] = 255  # ...opaque on the left half, transparent on the right
    Image.fromarray(rgba, "RGBA").save(tmp_path / "half.png")
    seen = read_photo(tmp_path / "half.png")
    assert torch.allclose(seen[:, :, :4], torch.tensor([1.0, 0, 0])[:, None, None].expand(3, 8, 4))
    assert torch.allclose(seen[:, :, 4:], torch.tensor(BACKGROUND)[:, None, None].expand(3, 8, 4))
    grey_alpha = Image.fromarray(rgba[..., [1, 3]], "LA")  # black where opaque
    assert np.allclose(photo_array(grey_alpha)[:, 4:], 1.0) and np.allclose(
        photo_array(grey_alpha)[:, :4], 0.0
    )


@pytest.mark.parametrize("mode", ["L", "1", "P", "CMYK", "YCbCr", "I", "F", "LA", "PA"])
def test_every_mode_is_read_as_rgb_in_range(mode) -> None:
    picture = Image.fromarray(_asymmetric())
    converted = picture.convert("P").convert(mode) if mode == "PA" else picture.convert(mode)
    array = photo_array(converted)
    assert array.shape == (24, 40, 3) and array.dtype == np.float32
    assert array.min() >= 0.0 and array.max() <= 1.0
    assert 0.2 < array.mean() < 0.8  # neither black nor white
    tensor = load_images(converted)
    assert tensor.shape == (1, 3, 24, 40)


def test_16_bit_and_rotated_photos_give_the_8_bit_upright_photos_top_class(tmp_path) -> None:
    cat = skimage_data.chelsea()  # scikit-image's cat: Lite0's top class is a cat
    Image.fromarray(cat).save(tmp_path / "cat.png")
    grey = (np.asarray(Image.fromarray(cat).convert("L")).astype(np.uint16)) * 257
    Image.fromarray(grey).save(tmp_path / "cat16.png")
    Image.fromarray(cat).convert("L").save(tmp_path / "cat8.png")
    exif = Image.Exif()
    exif[0x0112] = 8
    best = {"quality": 100, "subsampling": 0}
    Image.fromarray(cat).transpose(Image.Transpose.ROTATE_270).save(
        tmp_path / "cat_exif.jpg", exif=exif, **best
    )
    Image.fromarray(cat).save(tmp_path / "cat.jpg", **best)
    model = featviz.prepare("efficientnet_lite0", device="cpu")

    def top(name: str) -> int:
        photo = load_images(tmp_path / name, model.default_size)
        return int(model.activations(photo, {"output"})["output"].argmax())

    assert top("cat_exif.jpg") == top("cat.jpg") == top("cat.png")
    assert top("cat16.png") == top("cat8.png")


def test_one_size_policy_for_single_photos_and_folders(tmp_path) -> None:
    Image.fromarray(_asymmetric()).save(tmp_path / "wide.png")
    from featviz.imaging import load_folder

    for size in [(16, 16), (12, 30), (30, 12)]:
        _, folder = load_folder(tmp_path, size)
        assert torch.equal(folder, load_images(tmp_path / "wide.png", size))  # cover + center crop
