"""Write scikit-learn's 1,797 handwritten digits as an ImageFolder: one subfolder per digit.

    python examples/digits_folder.py OUT [--size 64]

The digits (``sklearn.datasets.load_digits``: 8 x 8 grey scans of 0-9 written by 43 people, UCI
ML hand-written digits) are a real labelled data set that no one here made, far from ImageNet's
photos. Each is drawn dark on white (ink 16 → black, as the scans were written), upscaled with
Pillow's bicubic filter to ``--size`` pixels, made RGB and saved as ``OUT/<digit>/<n>.png``
(``n`` its index in the data set). The folder name is the label, for
``featviz diagnose ... --labels-from-folders``:

    python examples/digits_folder.py /tmp/digits
    featviz diagnose efficientnet_lite0 /tmp/digits --labels-from-folders -o examples/diagnose_digits

Needs scikit-learn (``pip install scikit-learn``), which featviz itself does not use.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the folder to write (one subfolder per digit)")
    parser.add_argument("--size", type=int, default=64, help="side of each picture in pixels (default 64)")
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    digits = load_digits()
    out = Path(args.out)
    for index, (scan, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        grey = np.clip(255 - scan * (255 / 16), 0, 255).round().astype(np.uint8)  # 16 = full ink
        picture = Image.fromarray(grey).resize((args.size, args.size), Image.Resampling.BICUBIC)
        folder = out / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        picture.convert("RGB").save(folder / f"{index:04d}.png")
    counts = np.bincount(digits.target, minlength=10)
    print(
        f"wrote {len(digits.target)} digits to {out} ({', '.join(f'{d}: {n}' for d, n in enumerate(counts))})"
    )


if __name__ == "__main__":
    main()
