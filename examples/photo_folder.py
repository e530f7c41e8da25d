"""Write scikit-image's colour photos as an ImageFolder: one subfolder per photo, its crops inside.

    python examples/photo_folder.py OUT [--size 224]

Each of the 8 colour photos (featviz.natural.COLOUR_PHOTOS) is cut into the natural pool's
overlapping, mirrored crops (featviz.natural.pool_crops, scales 0.6 and 0.4) and saved as
OUT/<photo>/<n>.png. The folder name is the label, so "which photo is this crop from" becomes a
small, offline task (an easy one: a crop's photo is read perfectly from early layers, so it
says little about transfer; examples/digits_folder.py makes a real labelled one). It is what the
microscope's exemplars and activation atlases are made from:

    python examples/photo_folder.py /tmp/photos
"""

from __future__ import annotations

import argparse
from pathlib import Path

from featviz import imaging
from featviz.analysis import natural


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    total = 0
    for name in natural.COLOUR_PHOTOS:
        crops = natural.pool_crops(natural.photo(name), args.size, scales=(0.6, 0.4))
        for i, crop in enumerate(crops):
            imaging.save_image(imaging.to_pil(crop, alpha=False), Path(args.out) / name / f"{i:03d}.png")
        total += len(crops)
    print(f"wrote {total} crops of {len(natural.COLOUR_PHOTOS)} photos to {args.out}")


if __name__ == "__main__":
    main()
