"""Make the example photo of the explanation report: scikit-image's cat (chelsea) on its coffee photo.

    python examples/cat_on_coffee.py [OUT]        # default examples/images/cat_on_coffee.png

The cat covers a known box (featviz.natural.CAT_BOX: rows 40-184, columns 0-144 of 224 px), so
an attribution map can be checked against it; the espresso cup beside it is a competing object.
Needs scikit-image (installed with featviz's dev and bench extras). Then:

    featviz explain efficientnet_lite0 examples/images/cat_on_coffee.png -o examples/explain_cat
"""

from __future__ import annotations

import sys

from featviz import imaging
from featviz.analysis import natural


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "examples/images/cat_on_coffee.png"
    print(imaging.save_image(imaging.to_pil(natural.cat_on_coffee(), alpha=False), out))


if __name__ == "__main__":
    main()
