"""The rest of the toolbox on the embedded EfficientNet-Lite0 (offline, CPU ok; a few minutes).

    python examples/toolbox.py [OUT_DIR] [--steps N]

Writes, for the README:
    maco.png / maco_transparent.png   MACO (phase-only, natural spectrum) and its attribution map
    alpha.png                         a transparent render (RGBA PNG)
    cppn.png, cppn_448.png            a CPPN render (4x the steps) and the same network at 448 px
    laplacian.png                     the Laplacian-pyramid parameterization
    caricature.png, accentuate.png    image-seeded renders of scikit-image's "chelsea" cat photo
                                      (photo.png), if scikit-image is installed; else a gradient
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import featviz
from featviz import imaging


def photo() -> torch.Tensor:
    """The photo the image-seeded renders start from: scikit-image's cat, or a colour gradient."""
    try:
        from skimage import data

        return torch.from_numpy(data.chelsea().copy()).permute(2, 0, 1).float() / 255
    except ImportError:
        y, x = torch.meshgrid(torch.linspace(0, 1, 224), torch.linspace(0, 1, 224), indexing="ij")
        return torch.stack([x, y, 1 - x]) * 0.8 + 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", nargs="?", default="toolbox_out")
    parser.add_argument("--steps", type=int, default=256, help="steps per render (default 256)")
    args = parser.parse_args()
    out, steps = Path(args.out_dir), args.steps
    model = featviz.load_model("efficientnet_lite0")
    unit = "blocks.5:20"

    # MACO: only the Fourier phase is learned, under a fixed natural magnitude spectrum; the
    # attribution map (accumulated input gradients) says which pixels drove the unit.
    maco = featviz.render(model, unit, param="maco", steps=steps // 2, progress=False)
    print(f"maco       {maco.scores.item():7.3g} -> {maco.save(out / 'maco.png')}")
    transparent = imaging.save_image(maco.transparent(), out / "maco_transparent.png")
    print(f"           transparency map -> {transparent}")

    # Transparency: an opacity channel learned with the image over random backgrounds.
    alpha = featviz.render(model, unit, alpha=True, steps=steps, progress=False)
    print(f"alpha      {alpha.scores.item():7.3g} -> {alpha.save(out / 'alpha.png')}  (RGBA)")

    # A CPPN learns slowly (lr 0.005) and is resolution-free: redraw it larger afterwards.
    cppn = featviz.param.CPPNImage(224)
    result = featviz.render(model, unit, param=cppn, steps=4 * steps, progress=False)
    print(f"cppn       {result.scores.item():7.3g} -> {result.save(out / 'cppn.png')}")
    large = imaging.save_image(imaging.to_pil(cppn.render_at(448)[0]), out / "cppn_448.png")
    print(f"           redrawn at 448 px -> {large}")

    result = featviz.render(model, unit, param="laplacian", steps=steps, progress=False)
    print(f"laplacian  {result.scores.item():7.3g} -> {result.save(out / 'laplacian.png')}")

    # Image-seeded: what blocks.4 represents in the photo, exaggerated; and the photo nudged
    # towards a unit while staying close to itself.
    cat = photo()
    imaging.save_image(imaging.to_pil(imaging.load_images(cat, (224, 224))[0]), out / "photo.png")
    caricature = featviz.caricature(model, cat, "blocks.4", steps=steps, progress=False)
    print(f"caricature {caricature.scores.item():7.3g} -> {caricature.save(out / 'caricature.png')}")
    accent = featviz.accentuate(model, cat, unit, steps=steps // 2, progress=False)
    print(f"accentuate {accent.scores.item():7.3g} -> {accent.save(out / 'accentuate.png')}")


if __name__ == "__main__":
    main()
