"""RenderResult: what :func:`featviz.render` returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from featviz import imaging
from featviz.errors import InvalidArgumentError


@dataclass
class RenderResult:
    """The images of a render, their scores, and how they were made.

    Attributes:
        images: ``(B, C, H, W)`` float CPU tensor in [0, 1]: RGB, RGBA with ``alpha=True``, or
            the model's own channel count (1 for a grayscale model); :meth:`save` writes those
            as grey PNGs (several channels side by side).
        scores: ``(B,)`` each image's objective score, measured on the final image without
            transforms.
        history: ``(steps_done, B)`` the score at every step (under that step's transforms).
        targets: one label per image, e.g. ``["blocks.4:12"]``.
        objective: the readable description of what was maximized.
        settings: every setting used (steps, size, lr, param, transforms, preprocess, seed, ...).
        snapshots: ``{step: images}`` at the requested thresholds.
        steps_done: steps completed (fewer than requested if interrupted with Ctrl-C).
        interrupted: True if the render was stopped with Ctrl-C (the images are the partial result).
        skipped_steps: ``(B,)`` steps skipped for each image because its score or gradient was
            not finite.
        seconds: wall time of the optimization.
        attribution: ``(B, 1, H, W)`` in [0, 1]: how strongly each pixel drove the score, the
            magnitude of the score's gradient with respect to the image accumulated over all
            steps and scaled by each image's maximum (MACO's transparency map, Fel et al. 2023).
            :meth:`transparent` uses it as an alpha channel.
    """

    images: torch.Tensor
    scores: torch.Tensor
    history: torch.Tensor
    targets: list[str]
    objective: str
    settings: dict[str, object]
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)
    steps_done: int = 0
    interrupted: bool = False
    skipped_steps: torch.Tensor | None = None
    seconds: float = 0.0
    attribution: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.images.shape[0]

    def to_pil(self, index: int | None = None) -> Image.Image:
        """One image (``index``), or all of them as a grid (``None``; a single image if B = 1)."""
        if index is not None:
            if not -len(self) <= index < len(self):
                raise InvalidArgumentError(
                    f"image index {index} is out of range for a result with {len(self)} images"
                )
            return imaging.to_pil(self.images[index], self._alpha)
        if len(self) == 1:
            return imaging.to_pil(self.images[0], self._alpha)
        return imaging.to_pil(imaging.grid(self.images), self._alpha)

    @property
    def _alpha(self) -> bool:
        """Whether a fourth channel is transparency (``alpha=True``) rather than a model's own."""
        return bool(self.settings.get("alpha", True))

    def save(self, path: str | os.PathLike[str], index: int | None = None) -> Path:
        """Write the image (a grid when there are several) to ``path``; PNG unless the suffix says otherwise.

        Returns:
            The path written.
        """
        return imaging.save_image(self.to_pil(index), path)

    def transparent(self, index: int | None = None, gamma: float = 0.5) -> Image.Image:
        """The image(s) with :attr:`attribution` as alpha: pixels that did not drive the unit fade.

        ``gamma`` < 1 lifts faint regions (alpha = attribution ** gamma). Save it as PNG to keep
        the transparency. A grid when there are several images and ``index`` is None.
        """
        if self.attribution is None:
            raise InvalidArgumentError("this result has no attribution map (it was made by an older featviz)")
        alpha = self.attribution.clamp(0, 1).pow(gamma)
        rgba = torch.cat([self.images[:, :3], alpha], dim=1)
        if index is not None:
            self.to_pil(index)  # range check
            return imaging.to_pil(rgba[index])
        return imaging.to_pil(rgba[0] if len(self) == 1 else imaging.grid(rgba, background=0.0))

    def show(self) -> None:
        """Open the image (grid) in the system viewer; only on explicit request."""
        self.to_pil().show()

    def _repr_png_(self) -> bytes:
        # Jupyter shows this automatically; no IPython import needed.
        return imaging.png_bytes(self.to_pil())

    def __repr__(self) -> str:
        scores = ", ".join(f"{s:.3g}" for s in self.scores.tolist()[:8])
        more = ", ..." if len(self) > 8 else ""
        state = " (interrupted)" if self.interrupted else ""
        return (
            f"RenderResult({len(self)} image(s) {tuple(self.images.shape[-2:])}, "
            f"{self.steps_done} steps{state}, objective={self.objective}, "
            f"scores=[{scores}{more}])"
        )
