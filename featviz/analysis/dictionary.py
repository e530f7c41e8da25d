"""Concept dictionaries: a layer's activation vectors as sparse, non-negative mixtures of a few
directions (the concepts), learned from many photos.

Two methods, one :class:`Dictionary`:

* ``"nmf"`` (CRAFT, Fel et al. 2023): ``X ≈ U D`` with non-negative codes ``U`` (how much of each
  concept is at a position) and ``k`` directions ``D``, by Lee & Seung's multiplicative updates.
  Where the activations are non-negative (after a ReLU) both factors are non-negative. Where they
  also take negative values (a residual sum, a normalization) each vector is split into its
  positive and negative parts, ``[max(x, 0), max(-x, 0)]`` (2C non-negative values), factorized
  there, and each concept's direction is its positive part minus its negative part: a concept
  present alone at a place is then an exact non-negative vector of the split, so the orthant
  keeps the factorization identifiable, which semi-NMF (signed directions) is not (it found
  outward cones that reconstruct as well on planted data). Factorization can stop in a poor
  local optimum, so it is tried from several starting points and the best continued
  (:func:`_factorize`). Codes of new vectors are the same updates with the directions fixed.
* ``"sae"``: a TopK sparse autoencoder (Makhzani & Frey 2013; Gao et al. 2024, "Scaling and
  evaluating sparse autoencoders"): ``codes = TopK(ReLU(W_enc (x - b) + c))``,
  ``x̂ = codes W_dec + b``, with more latents than channels (default :data:`SAE_EXPANSION` ×),
  decoder rows of unit norm, the encoder started as the decoder's transpose, trained by Adam on
  the mean squared error of the vectors scaled to unit mean squared norm. Minibatches are drawn
  from a seeded generator, so the same vectors and seed give the same dictionary; a checkpoint
  file makes training resumable after Ctrl-C.

Every dictionary reports its quality on the vectors it was learned from (:func:`quality`):
explained variance ``R² = 1 - |X - X̂|² / |X - mean X|²``, the mean number of active concepts per
vector (L0) and the dead concepts (never active).

A dictionary saves as plain tensors and numbers (:meth:`Dictionary.state`), which
``torch.load(path, weights_only=True)`` reads back (:func:`load`).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from featviz import files
from featviz import options as opts
from featviz.errors import InvalidArgumentError

#: The dictionary methods.
METHODS = ("nmf", "sae")
#: Concepts of an NMF dictionary by default.
NMF_CONCEPTS = 16
#: Latents of a sparse autoencoder per channel of the layer, by default.
SAE_EXPANSION = 4
#: Active latents per vector (TopK's K) by default.
SAE_ACTIVE = opts.SAE_ACTIVE
#: Vectors per training minibatch.
SAE_BATCH = 1024
#: Passes over the vectors by default.
SAE_EPOCHS = opts.SAE_EPOCHS
#: Adam's learning rate (on vectors scaled to unit mean squared norm).
SAE_LR = 3e-3
#: Multiplicative-update iterations to learn (and to encode with) an NMF dictionary.
NMF_ITERATIONS = 400
ENCODE_ITERATIONS = 150
#: Starting points an NMF dictionary is tried from, and the iterations each trial runs.
STARTS = 4
TRIAL_ITERATIONS = 60
#: A concept counts as active on a vector when its code is above this share of the vector's largest.
ACTIVE_SHARE = 1e-3
#: The format version of a saved dictionary.
FORMAT = 1

_EPS = 1e-10


@dataclass
class Dictionary:
    """A layer's concept dictionary.

    Attributes:
        method: ``"nmf"`` or ``"sae"``.
        layer: the layer it was learned at.
        directions: ``(k, C)`` each concept's direction in the layer's activation space (unit norm,
            except for NMF on signed activations: the positive minus the negative part of a unit
            vector of the split space).
        bias: ``(C,)`` added to every reconstruction (the SAE's decoder bias; zeros for NMF).
        encoder: the SAE's ``(C, k)`` encoder weights; for NMF on signed activations the
            ``(k, 2C)`` directions in the split space codes are computed in; otherwise None.
        encoder_bias: the SAE's ``(k,)`` encoder bias (None for NMF).
        active: the SAE's K (None for NMF).
        scale: the SAE's input scale (vectors are divided by it before encoding).
        signed: whether the activations took negative values (NMF: factorized split by sign).
        stats: quality and training numbers (:func:`quality`, vectors, seconds, ...).
    """

    method: str
    layer: str
    directions: torch.Tensor
    bias: torch.Tensor
    encoder: torch.Tensor | None = None
    encoder_bias: torch.Tensor | None = None
    active: int | None = None
    scale: float = 1.0
    signed: bool = False
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """The number of concepts."""
        return int(self.directions.shape[0])

    @property
    def channels(self) -> int:
        """The layer's channels."""
        return int(self.directions.shape[1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Each vector's codes: ``(N, C)`` → ``(N, k)``, non-negative."""
        x = x.to(self.directions.device, torch.float32)
        if self.method == "sae":
            if self.encoder is None or self.encoder_bias is None or self.active is None:
                raise self._without_encoder()
            pre = ((x - self.bias) / self.scale) @ self.encoder + self.encoder_bias
            return _top_k(pre.relu(), self.active) * self.scale
        if self.signed:  # codes in the split space the dictionary was learned in
            if self.encoder is None:
                raise self._without_encoder()
            return _nmf_codes(_split(x), self.encoder, ENCODE_ITERATIONS)
        return _nmf_codes(x, self.directions, ENCODE_ITERATIONS)

    def _without_encoder(self) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"this {self.method} dictionary of {self.layer!r} lacks its encoder, so it cannot encode; "
            "load it with featviz.analysis.dictionary.load, or learn it with learn_nmf / train_sae"
        )

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """The reconstruction ``codes @ directions + bias``: ``(N, k)`` → ``(N, C)``."""
        return codes @ self.directions + self.bias

    def state(self) -> dict[str, Any]:
        """Plain tensors, strings and numbers, for ``torch.save`` and ``torch.load(weights_only=True)``."""
        return {
            "format": FORMAT,
            "method": self.method,
            "layer": self.layer,
            "directions": self.directions.detach().cpu(),
            "bias": self.bias.detach().cpu(),
            "encoder": None if self.encoder is None else self.encoder.detach().cpu(),
            "encoder_bias": None if self.encoder_bias is None else self.encoder_bias.detach().cpu(),
            "active": self.active,
            "scale": float(self.scale),
            "signed": self.signed,
            "stats": dict(self.stats),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`state` with ``torch.save``; returns the path."""
        target = Path(path)
        files.write_bytes(target, _serialized(self.state()))
        return target

    def fingerprint(self) -> str:
        """A short hash of the dictionary's tensors (what its renders and records refer to)."""
        digest = hashlib.sha256()
        for tensor in (self.directions, self.bias):
            digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]


def load(path: str | os.PathLike[str]) -> Dictionary:
    """A dictionary saved by :meth:`Dictionary.save` (read with ``weights_only=True``).

    Raises:
        InvalidArgumentError: the file is missing or is not a featviz concept dictionary.
    """
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InvalidArgumentError(
            f"no concept dictionary at {os.fspath(path)!r}; make one with `featviz concepts MODEL "
            "LAYER PHOTO_DIR -o DIR` (it writes DIR/dictionary.pt)"
        ) from None
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same mistake for the user
        raise InvalidArgumentError(
            f"{os.fspath(path)!r} is not a concept dictionary featviz can read ({type(error).__name__}); "
            "give the dictionary.pt that `featviz concepts` wrote"
        ) from None
    keys = {"layer", "directions", "bias", "encoder", "encoder_bias", "active", "scale", "signed", "stats"}
    if (
        not isinstance(state, dict)
        or state.get("format") != FORMAT
        or state.get("method") not in METHODS
        or not keys <= set(state)
    ):
        raise InvalidArgumentError(
            f"{os.fspath(path)!r} is not a featviz concept dictionary (format {FORMAT}); give the "
            "dictionary.pt that `featviz concepts` wrote"
        )
    return Dictionary(
        method=state["method"],
        layer=state["layer"],
        directions=state["directions"].float(),
        bias=state["bias"].float(),
        encoder=None if state["encoder"] is None else state["encoder"].float(),
        encoder_bias=None if state["encoder_bias"] is None else state["encoder_bias"].float(),
        active=state["active"],
        scale=float(state["scale"]),
        signed=bool(state["signed"]),
        stats=dict(state["stats"]),
    )


# -- learning --------------------------------------------------------------------------------------


def learn_nmf(
    x: torch.Tensor, layer: str, k: int = NMF_CONCEPTS, seed: int = 0, iterations: int = NMF_ITERATIONS
) -> Dictionary:
    """An NMF dictionary of ``k`` concepts from ``(N, C)`` activation vectors (semi-NMF where
    they take negative values; see the module docstring). Concepts are ordered by their share of
    the codes' mass, largest first.

    Raises:
        InvalidArgumentError: too few vectors or channels for ``k``, or vectors all zero.
    """
    x = _checked(x, k)
    if float(x.abs().max()) <= 0:
        raise InvalidArgumentError("the activation vectors are all zero; no concepts can be learned")
    signed = bool((x < 0).any())
    data = _split(x) if signed else x
    basis = _factorize(data, k, iterations, seed)
    codes = _nmf_codes(data, basis, ENCODE_ITERATIONS)
    c = x.shape[1]
    directions = basis[:, :c] - basis[:, c:] if signed else basis
    order = (codes * directions.norm(dim=1)).sum(0).argsort(descending=True)
    return Dictionary(
        "nmf",
        layer,
        directions[order].contiguous(),
        torch.zeros(c),
        encoder=basis[order].contiguous() if signed else None,
        signed=signed,
    )


def train_sae(
    x: torch.Tensor,
    layer: str,
    k: int | None = None,
    active: int = SAE_ACTIVE,
    seed: int = 0,
    epochs: int = SAE_EPOCHS,
    batch: int = SAE_BATCH,
    lr: float = SAE_LR,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    device: torch.device | str | None = None,
) -> Dictionary | None:
    """A TopK sparse autoencoder with ``k`` latents (default :data:`SAE_EXPANSION` × channels) from
    ``(N, C)`` activation vectors.

    Args:
        checkpoint: a file to keep the training state in (every epoch); a later call with the same
            vectors and settings resumes from it, and it is removed when training finishes.
        progress: called after each step with ``(step, steps, loss)``; a KeyboardInterrupt raised
            in it or during a step stops training, with the checkpoint of the last finished epoch
            kept.
        device: where to train (default: where ``x`` is); the dictionary comes back on the CPU.

    Returns:
        The dictionary, or None when Ctrl-C stopped training (the checkpoint, if any, is kept).

    Raises:
        InvalidArgumentError: too few vectors, ``active`` not below ``k``, or vectors all zero.
    """
    x = _checked(x, 1)
    k = SAE_EXPANSION * x.shape[1] if k is None else k
    for name, value, low in (("k", k, 2), ("epochs", epochs, 1), ("batch", batch, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgumentError(f"{name} must be an int >= {low}, got {value!r}")
    if not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise InvalidArgumentError(f"lr must be a positive number, got {lr!r}")
    where = x.device if device is None else torch.device(device)
    x = x.to(where)
    n, c = x.shape
    if isinstance(active, bool) or not isinstance(active, int) or not 1 <= active < k:
        raise InvalidArgumentError(f"active must be an int from 1 to k - 1 = {k - 1}, got {active!r}")
    generator = torch.Generator().manual_seed(seed)
    # The decoder bias starts at the coordinate-wise median, not the mean: vectors that are sparse
    # mixtures stay sparse mixtures around it (around the mean every code would need a negative part).
    bias = x.median(0).values
    scale = float((x - bias).pow(2).sum(1).mean().sqrt())
    if scale <= 0:
        raise InvalidArgumentError("the activation vectors are all equal; no concepts can be learned")
    z = (x - bias) / scale
    decoder = torch.randn(k, c, generator=generator).to(where)
    decoder /= decoder.norm(dim=1, keepdim=True)
    params = {
        "decoder": decoder,
        "encoder": decoder.T.clone(),
        "encoder_bias": torch.zeros(k, device=where),
        "bias": torch.zeros(c, device=where),
    }
    for tensor in params.values():
        tensor.requires_grad_(True)
    optimizer = torch.optim.Adam(list(params.values()), lr=lr)
    per_epoch = max(1, math.ceil(n / batch))
    steps = epochs * per_epoch
    key = hashlib.sha256(
        repr((n, c, k, active, seed, epochs, batch, lr, float(x.sum()), float(x.pow(2).sum()))).encode()
    ).hexdigest()[:16]
    epoch = 0
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None and path.exists():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - a checkpoint that cannot be read is started over
            saved = None
        if isinstance(saved, dict) and saved.get("key") == key:
            with torch.no_grad():
                for name, tensor in params.items():
                    tensor.copy_(saved["params"][name])
            optimizer.load_state_dict(saved["optimizer"])
            generator.set_state(saved["generator"])
            epoch = int(saved["epoch"])
    try:
        while epoch < epochs:
            order = torch.randperm(n, generator=generator)
            for i in range(per_epoch):
                rows = order[i * batch : (i + 1) * batch]
                loss = _sae_step(z[rows.to(where)], params, active, optimizer)
                if progress is not None:
                    progress(epoch * per_epoch + i + 1, steps, loss)
            epoch += 1
            if path is not None and epoch < epochs:
                state = {
                    "key": key,
                    "epoch": epoch,
                    "params": {name: t.detach().cpu().clone() for name, t in params.items()},
                    "optimizer": optimizer.state_dict(),
                    "generator": generator.get_state(),
                }
                files.write_bytes(path, _serialized(state))
    except KeyboardInterrupt:
        return None
    if path is not None:
        path.unlink(missing_ok=True)
    with torch.no_grad():
        directions = params["decoder"] / params["decoder"].norm(dim=1, keepdim=True).clamp_min(_EPS)
        return Dictionary(
            "sae",
            layer,
            directions.detach().cpu().clone(),
            (bias + params["bias"].detach() * scale).cpu(),
            encoder=params["encoder"].detach().cpu().clone(),
            encoder_bias=params["encoder_bias"].detach().cpu().clone(),
            active=active,
            scale=scale,
        )


def quality(dictionary: Dictionary, x: torch.Tensor, chunk: int = 8192) -> dict[str, float]:
    """How well the dictionary explains ``(N, C)`` vectors: ``r2`` (explained variance), ``l0``
    (mean active concepts per vector), ``dead`` (concepts never active) and ``dead_share``."""
    x = x.float()
    mean = x.mean(0)
    residual = total = l0 = 0.0
    ever = torch.zeros(dictionary.size, dtype=torch.bool)
    for start in range(0, len(x), chunk):
        rows = x[start : start + chunk]
        codes = dictionary.encode(rows)
        residual += float((rows - dictionary.decode(codes)).pow(2).sum())
        total += float((rows - mean).pow(2).sum())
        on = codes > ACTIVE_SHARE * codes.amax(1, keepdim=True).clamp_min(_EPS)
        l0 += float(on.sum())
        ever |= on.any(0).cpu()
    dead = int((~ever).sum())
    return {
        "r2": 1.0 - residual / total if total > 0 else 1.0,
        "l0": l0 / len(x),
        "dead": dead,
        "dead_share": dead / dictionary.size,
    }


def concept_maps(dictionary: Dictionary, activation: torch.Tensor) -> torch.Tensor:
    """Each concept's code at every position: ``(B, C, H, W)`` (or ``(B, C)``) activations →
    ``(B, k, H, W)`` (or ``(B, k)``), non-negative."""
    if activation.dim() == 2:
        return dictionary.encode(activation)
    b, c, h, w = activation.shape
    codes = dictionary.encode(activation.permute(0, 2, 3, 1).reshape(-1, c))
    return codes.reshape(b, h, w, -1).permute(0, 3, 1, 2)


def contributions(
    dictionary: Dictionary, activation: torch.Tensor, gradient: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each concept's contribution to a score, gradient × concept activation through the decoder
    (CRAFT's and the holistic framework's first-order importance): at each position the concept's
    code times the score's gradient along its direction, summed over positions.

    Args:
        activation, gradient: ``(B, C, H, W)`` (or ``(B, C)``) the layer's activation and the
            score's gradient with respect to it.

    Returns:
        ``(codes (B, k, H, W), contribution (B, k))``; the contributions of all concepts add up to
        gradient × (reconstruction − bias), summed over positions.
    """
    codes = concept_maps(dictionary, activation)
    along = torch.einsum("bc...,kc->bk...", gradient.float(), dictionary.directions)  # g · d_i per position
    contribution = (codes * along).flatten(2).sum(2) if codes.dim() == 4 else codes * along
    return codes, contribution


def without(dictionary: Dictionary, activation: torch.Tensor, concepts: list[int]) -> torch.Tensor:
    """``activation`` with the given concepts removed: minus each one's code times its direction
    at every position (the reconstruction error and the other concepts stay)."""
    if not concepts:
        return activation
    codes = concept_maps(dictionary, activation)[:, concepts]
    removed = torch.einsum("bk...,kc->bc...", codes, dictionary.directions[concepts])
    return activation - removed.to(activation.dtype)


# -- the pieces ------------------------------------------------------------------------------------


def _checked(x: torch.Tensor, k: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise InvalidArgumentError(
            f"activation vectors must be a 2-D (vectors, channels) tensor, got "
            f"{type(x).__name__ if not isinstance(x, torch.Tensor) else tuple(x.shape)}"
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidArgumentError(f"k (the number of concepts) must be a positive int, got {k!r}")
    n, c = x.shape
    if n < max(2 * k, 8):
        raise InvalidArgumentError(
            f"{n} activation vectors are too few to learn {k} concepts; give at least {max(2 * k, 8)} "
            "(more photos, or a layer with more positions)"
        )
    x = x.detach().to(torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise InvalidArgumentError("the activation vectors hold NaN or inf; check the model and the photos")
    return x


def _factorize(x: torch.Tensor, k: int, iterations: int, seed: int) -> torch.Tensor:
    """The ``(k, C)`` unit-norm non-negative directions of ``x ≈ codes @ directions`` (``x``
    non-negative) by multiplicative updates.

    They can stop in a poor local optimum, so it starts from :data:`STARTS` sets of directions —
    the successive projection algorithm's extreme vectors (Araújo et al. 2001; Gillis & Vavasis
    2014) and k-means++ seeds (Arthur & Vassilvitskii 2007) — runs each for
    :data:`TRIAL_ITERATIONS` and continues the one that reconstructs best."""
    generator = torch.Generator().manual_seed(seed)
    starts = [_projection_start(x, k)] + [_spread_start(x, k, generator) for _ in range(STARTS - 1)]
    trials = []
    for start in starts:
        directions, codes = _refine(x, start + _EPS, _nmf_codes(x, start + _EPS, 20), TRIAL_ITERATIONS)
        trials.append((float((x - codes @ directions).pow(2).sum()), directions, codes))
    _, directions, codes = min(trials, key=lambda trial: trial[0])
    directions, _ = _refine(x, directions, codes, max(0, iterations - TRIAL_ITERATIONS))
    return directions


def _split(x: torch.Tensor) -> torch.Tensor:
    """``[max(x, 0), max(-x, 0)]``: signed vectors as non-negative ones of twice the width."""
    return torch.cat([x.clamp_min(0), (-x).clamp_min(0)], 1)


def _refine(
    x: torch.Tensor, directions: torch.Tensor, codes: torch.Tensor, iterations: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``iterations`` alternating multiplicative updates; unit-norm directions and their codes."""
    with _one_thread():
        for _ in range(iterations):
            directions = directions * (codes.T @ x) / (codes.T @ codes @ directions + _EPS)
            codes = _multiplicative(x, directions, codes, 1)
            scale = directions.norm(dim=1).clamp_min(_EPS)  # the scale in the codes, for stable updates
            directions, codes = directions / scale[:, None], codes * scale
    norms = directions.norm(dim=1).clamp_min(_EPS)
    return directions / norms[:, None], codes * norms


def _projection_start(x: torch.Tensor, k: int) -> torch.Tensor:
    """The successive projection algorithm: the vector of largest norm, then the largest after
    projecting the chosen ones out, ``k`` times."""
    residual = x.clone()
    chosen = []
    for _ in range(k):
        i = int(residual.pow(2).sum(1).argmax())
        chosen.append(i)
        unit = residual[i] / residual[i].norm().clamp_min(_EPS)
        residual -= (residual @ unit)[:, None] * unit
    return x[chosen].clone()


def _spread_start(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """``k`` vectors of the data spread apart (k-means++ seeding: each next one drawn with
    probability growing with its squared distance to the chosen)."""
    n = len(x)
    chosen = [int(torch.randint(n, (1,), generator=generator))]
    distance = (x - x[chosen[0]]).pow(2).sum(1)
    for _ in range(k - 1):
        chosen.append(int(torch.multinomial(distance + _EPS, 1, generator=generator)))
        distance = torch.minimum(distance, (x - x[chosen[-1]]).pow(2).sum(1))
    return x[chosen].clone()


@contextmanager
def _one_thread() -> Iterator[None]:
    """torch on one thread for the block: the updates are many small products, which several
    threads slow down (measured 250x on a busy 2-core machine), restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _nmf_codes(x: torch.Tensor, directions: torch.Tensor, iterations: int) -> torch.Tensor:
    """Non-negative codes of ``x`` for fixed ``directions``, from the least-squares codes
    clipped at zero, by the multiplicative rule."""
    start = (x @ torch.linalg.pinv(directions)).clamp_min(0) + 1e-4 * float(x.abs().mean())
    return _multiplicative(x, directions, start, iterations)


def _multiplicative(
    x: torch.Tensor, directions: torch.Tensor, codes: torch.Tensor, iterations: int
) -> torch.Tensor:
    """The multiplicative update of non-negative codes (Lee & Seung's; for a signed dictionary,
    Ding, Li & Jordan's)."""
    cross = x @ directions.T  # (N, k)
    gram = directions @ directions.T  # (k, k)
    cross_pos, cross_neg = cross.clamp_min(0), (-cross).clamp_min(0)
    gram_pos, gram_neg = gram.clamp_min(0), (-gram).clamp_min(0)
    with _one_thread():
        for _ in range(iterations):
            codes = codes * ((cross_pos + codes @ gram_neg) / (cross_neg + codes @ gram_pos + _EPS)).sqrt()
    return codes


def _serialized(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _top_k(values: torch.Tensor, k: int) -> torch.Tensor:
    top = values.topk(k, dim=1)
    return torch.zeros_like(values).scatter_(1, top.indices, top.values)


def _sae_step(
    z: torch.Tensor, params: dict[str, torch.Tensor], active: int, optimizer: torch.optim.Optimizer
) -> float:
    with torch.enable_grad():
        optimizer.zero_grad()
        codes = _top_k((((z - params["bias"]) @ params["encoder"]) + params["encoder_bias"]).relu(), active)
        loss = (codes @ params["decoder"] + params["bias"] - z).pow(2).sum(1).mean()
        loss.backward()
        decoder = params["decoder"]
        with torch.no_grad():  # keep only the gradient that changes a decoder row's direction
            unit = decoder / decoder.norm(dim=1, keepdim=True).clamp_min(_EPS)
            decoder.grad -= (decoder.grad * unit).sum(1, keepdim=True) * unit
        optimizer.step()
        with torch.no_grad():
            decoder /= decoder.norm(dim=1, keepdim=True).clamp_min(_EPS)
    return float(loss.detach())


__all__ = [
    "ACTIVE_SHARE",
    "METHODS",
    "NMF_CONCEPTS",
    "SAE_ACTIVE",
    "SAE_EXPANSION",
    "Dictionary",
    "concept_maps",
    "contributions",
    "learn_nmf",
    "load",
    "quality",
    "train_sae",
    "without",
]
