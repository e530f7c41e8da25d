"""Build featviz/data/natural_spectrum_224.npy, the magnitude spectrum MacoImage uses by default.

Source: scikit-image's bundled colour photos (astronaut, chelsea, coffee, rocket,
stereo_motorcycle, hubble_deep_field), each as its center square and four corner squares of 60%
of the short side (featviz.metrics' crops), resized to 224 px — 30 crops. Stored as float16
(3 x 224 x 113, about 150 kB).

Usage:
    python tools/make_spectrum.py        # needs scikit-image (pip install -e ".[dev]")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from featviz.analysis import metrics
from featviz.rendering.param import SPECTRUM_FILE, spectrum_from_images

COLOUR_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle", "hubble_deep_field")


def main() -> None:
    crops = [crop for name in COLOUR_PHOTOS for crop in metrics._square_crops(metrics._photo(name), 224)]
    images = metrics.quantize(torch.stack(crops))
    spectrum = spectrum_from_images(images, 224)
    out = Path(__file__).resolve().parents[1] / "featviz" / "data" / SPECTRUM_FILE
    np.save(out, spectrum.numpy().astype(np.float16))
    print(f"wrote {out} {tuple(spectrum.shape)} from {len(images)} crops")


if __name__ == "__main__":
    main()
