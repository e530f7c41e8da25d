"""``featviz.concepts``: learn a layer's concept dictionary from a photo folder, rank its concepts
for a class, and show each one.

The steps (times in ``seconds``)::

    photos ──model──► activation vectors (a few per photo and position, up to ``vectors``) and
                      each photo's predicted class                                 "activations"
           ──NMF / TopK SAE──► dictionary: k directions, codes ≥ 0                 "dictionary"
    class photos ──► gradient × concept activation per concept (importance), and
                     deletion: the class logit with concepts removed from the layer  "importance"
    concepts ──► exemplars (crops where each is strongest), render of each shown
                 concept's direction (render queue, render cache)            "exemplars", "renders"

Importance follows CRAFT (Fel et al. 2023) and the holistic framework (Fel et al. 2023, NeurIPS):
a concept's contribution to the class logit at a photo is, to first order, its code times the
logit's gradient along its direction, summed over positions
(:func:`featviz.analysis.dictionary.contributions`); the importance is its mean over the class's
photos. The deletion test checks that ranking by an intervention: the class logit's mean drop when
the 3 highest-ranked concepts are removed from the layer's activations
(:func:`featviz.analysis.dictionary.without`; the reconstruction error stays) against 3 concepts
drawn at random (:data:`RANDOM_DRAWS` draws), for each of the folder's most predicted classes.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from featviz import options as opts
from featviz.analysis import dictionary as dictionaries
from featviz.analysis.dictionary import Dictionary
from featviz.analysis.exemplars import crop_at
from featviz.errors import InvalidArgumentError
from featviz.model import facts
from featviz.model.prepared import Prepared, prepare
from featviz.rendering.cache import CachedRenderer, RenderCache, make_cache, model_fingerprint, plain
from featviz.rendering.queue import RenderQueue
from featviz.reports import frame
from featviz.reports.concepts import page
from featviz.reports.concepts.record import ClassTest, Concept, ConceptsData
from featviz.targets import OUTPUT

#: Activation vectors learned from, at most (a few per photo and position, spread evenly).
VECTORS = opts.CONCEPT_VECTORS
#: Classes the deletion test runs on: the folder's most predicted ones (the target first).
TEST_CLASSES = 5
#: Photos per class in the importance and deletion passes, at most.
CLASS_PHOTOS = 16
#: Concepts removed together in the deletion test.
REMOVED = 3
#: Random draws of :data:`REMOVED` concepts the top ones are compared against.
RANDOM_DRAWS = 10
#: Concepts shown (and rendered) by default, by importance for the target.
SHOWN = opts.CONCEPTS_SHOWN
#: Exemplar crops per concept.
EXEMPLARS = 5
#: Photos per pass through the model while streaming the folder.
PHOTO_BATCH = 32


class Concepts(ConceptsData, frame.Report):
    """What :func:`featviz.concepts` found; ``save(folder)`` writes index.html, concepts.json,
    dictionary.pt, the renders and the exemplar crops."""

    _what = "a concept report"
    _page = page


def concepts(
    model: nn.Module | str | Prepared,
    layer: str,
    photos: str | os.PathLike[str] | torch.Tensor,
    *,
    k: int | None = None,
    method: str = "nmf",
    target: int | None = None,
    active: int = dictionaries.SAE_ACTIVE,
    epochs: int = dictionaries.SAE_EPOCHS,
    vectors: int = VECTORS,
    shown: int = SHOWN,
    exemplars: int = EXEMPLARS,
    test_classes: int = TEST_CLASSES,
    class_photos: int = CLASS_PHOTOS,
    steps: int = opts.EXPLAIN_STEPS,
    size: int | tuple[int, int] = opts.EXPLAIN_SIZE,
    seed: int = 0,
    cache: RenderCache | str | os.PathLike[str] | bool | None = True,
    render: bool = True,
    checkpoint: str | os.PathLike[str] | None = None,
    class_names: list[str] | None = None,
    device: torch.device | str | None = None,
    preprocess: object = None,
    progress: bool = True,
    **render_options: Any,  # noqa: ANN401 - featviz.render's options
) -> Concepts:
    """The concepts of ``layer`` learned from ``photos``, ranked for a class, each with its render
    and exemplars.

    Example:
        >>> found = featviz.concepts("efficientnet_lite0", "blocks.6", "photos/", k=16)
        >>> found.quality                  # {'r2': 0.71, 'l0': 9.8, 'dead': 0, ...}
        >>> found.concepts[0].importance   # the concept that drives the class most
        >>> found.save("concepts_blocks6") # index.html, concepts.json, dictionary.pt
        >>> featviz.explain(model, "photo.jpg", concepts="concepts_blocks6/dictionary.pt")

    Args:
        model: an ``nn.Module`` (left as it was), a zoo name, or a prepared model.
        layer: a layer with a spatial grid ``(C, H, W)`` or a vector per photo.
        photos: a folder of images (searched recursively) or an ``(N, 3, H, W)`` tensor in [0, 1];
            each photo is resized to cover the model's input size and center-cropped.
        k: concepts (default :data:`~featviz.analysis.dictionary.NMF_CONCEPTS` for NMF, and
            :data:`~featviz.analysis.dictionary.SAE_EXPANSION` × the layer's channels for a
            sparse autoencoder).
        method: ``"nmf"`` (CRAFT-style) or ``"sae"`` (a TopK sparse autoencoder); see
            :mod:`featviz.analysis.dictionary`.
        target: the class to rank concepts for (default: the class the model predicts most often
            over the folder).
        active: the sparse autoencoder's active latents per vector (TopK's K).
        epochs: the sparse autoencoder's passes over the vectors.
        vectors: activation vectors learned from, at most.
        shown: concepts shown and rendered, by importance for the target.
        exemplars: photo crops per shown concept.
        test_classes: classes the deletion test runs on (the folder's most predicted).
        class_photos: photos per class for importance and deletion, at most.
        steps, size, seed: of each concept's render (through the render cache, so a later
            ``explain --concepts`` reuses them).
        cache: True (default folder), a folder, False (none) or a RenderCache.
        render: False skips the renders (numbers, exemplars and the page only).
        checkpoint: a file to keep a sparse autoencoder's training in, so that Ctrl-C during
            training loses at most an epoch (the command line keeps it in the output folder).
        class_names: names of the output classes (default: ImageNet's for 1000 classes).
        device, preprocess: as in :func:`featviz.prepare`.
        progress: progress bars.
        **render_options: further options of :func:`featviz.render`.

    Returns:
        A :class:`Concepts`; ``interrupted`` when Ctrl-C stopped the renders (the concepts so far).

    Raises:
        LayerNotFoundError: a layer the model does not have.
        InvalidArgumentError: no photos, a bad count or method, a target out of range, a layer
            without a grid or vector, or too few activation vectors for ``k``.
        KeyboardInterrupt: Ctrl-C before the dictionary was learned (the SAE checkpoint is kept).
    """
    start = time.perf_counter()
    if method not in dictionaries.METHODS:
        raise InvalidArgumentError(f"method must be one of {', '.join(dictionaries.METHODS)}, got {method!r}")
    for name, value, low in (
        ("vectors", vectors, 16),
        ("shown", shown, 1),
        ("exemplars", exemplars, 0),
        ("test_classes", test_classes, 1),
        ("class_photos", class_photos, 1),
        ("epochs", epochs, 1),
        ("steps", steps, 1),
    ):
        frame.check_count(name, value, low)
    if k is not None:
        frame.check_count("k", k, 2)
    frame.check_count("active", active)
    if method == "sae" and k is not None and active >= k:
        raise InvalidArgumentError(f"active must be from 1 to k - 1 = {k - 1}, got {active!r}")
    if target is not None and (isinstance(target, bool) or not isinstance(target, int) or target < 0):
        raise InvalidArgumentError(f"target must be a class index (an int >= 0), got {target!r}")
    frame.check_size(size)
    given_layouts = render_options.pop("layouts", None)
    prepared = prepare(model, preprocess=preprocess, device=device, layouts=given_layouts)
    prepared.check_editable(layer)  # the deletion test edits it: refused now, not after the work
    sources, load = frame.photo_source(prepared, photos)
    seconds: dict[str, float] = {}

    sample = _sample(prepared, layer, sources, load, vectors, seed, progress)
    seconds["activations"] = time.perf_counter() - start
    logits_size = sample.classes
    if target is not None and (
        isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < logits_size
    ):
        raise InvalidArgumentError(
            f"target must be a class index from 0 to {logits_size - 1}, got {target!r}"
        )
    channels = sample.vectors.shape[1]
    size_k = (
        k
        if k is not None
        else (dictionaries.NMF_CONCEPTS if method == "nmf" else dictionaries.SAE_EXPANSION * channels)
    )
    if method == "sae" and not 1 <= active < size_k:
        raise InvalidArgumentError(f"active must be from 1 to k - 1 = {size_k - 1}, got {active!r}")

    tick = time.perf_counter()
    dictionary = _learn(
        sample.vectors, layer, method, size_k, active, epochs, seed, checkpoint, progress, prepared.device
    )
    dictionary.stats.update(dictionaries.quality(dictionary, sample.vectors))
    dictionary.stats.update({"vectors": len(sample.vectors), "photos": len(sources), "seed": seed})
    seconds["dictionary"] = time.perf_counter() - tick

    names = facts.class_names(class_names, logits_size)
    counts = torch.bincount(sample.predicted, minlength=logits_size)
    ranked = [int(c) for c in counts.argsort(descending=True) if int(counts[c]) > 0]
    target = ranked[0] if target is None else target
    tested = [target] + [c for c in ranked if c != target][: test_classes - 1]

    tick = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    importances: dict[int, torch.Tensor] = {}
    tests: list[ClassTest] = []
    single: dict[int, float] = {}
    for c in tested:
        rows = torch.nonzero(sample.predicted == c).flatten()
        if len(rows) == 0:  # a target the model never predicts here: all photos speak to it
            rows = torch.arange(len(sources))
        rows = rows[:class_photos]
        images = torch.cat([load(int(r), int(r) + 1) for r in rows])
        scores, base = _class_importance(prepared, dictionary, images, c)
        top = [int(i) for i in scores.argsort(descending=True)[:REMOVED]]
        draws = [
            [int(i) for i in torch.randperm(dictionary.size, generator=generator)[:REMOVED]]
            for _ in range(RANDOM_DRAWS)
        ]
        drops = _drops(prepared, dictionary, images, c, base, [top, *draws])
        tests.append(ClassTest(c, names[c], len(rows), top, drops[0], statistics.fmean(drops[1:]), drops[1:]))
        importances[c] = scores
        if c == target:
            chosen = [int(i) for i in scores.argsort(descending=True)[:shown]]
            single = dict(
                zip(chosen, _drops(prepared, dictionary, images, c, base, [[i] for i in chosen]), strict=True)
            )
    importance, target_photos = importances[target], tests[0].photos  # the target is tested first
    seconds["importance"] = time.perf_counter() - tick

    tick = time.perf_counter()
    order = [int(i) for i in importance.argsort(descending=True)[:shown]]
    positive = float(importance.clamp_min(0).sum()) or 1.0
    share, active_photos, best = _activity(dictionary, sample, len(sources), order, exemplars)
    shown_concepts = []
    for rank, i in enumerate(order):
        concept = Concept(
            index=i,
            rank=rank,
            importance=float(importance[i]),
            importance_share=float(importance[i]) / positive,
            deletion=single.get(i),
            share=float(share[i]),
            photos=active_photos[i],
        )
        for photo, position, code in best[i]:
            image = load(photo, photo + 1)[0]
            side = (image.shape[-2] // 2, image.shape[-1] // 2)
            concept.exemplars.append(crop_at(image, position, sample.grid, side).cpu())
            concept.exemplar_sources.append(sources[photo])
            concept.exemplar_codes.append(code)
        shown_concepts.append(concept)
    seconds["exemplars"] = time.perf_counter() - tick

    differences = [t.drop_top - t.drop_random for t in tests]
    report = Concepts(
        model=prepared.name,
        layer=layer,
        method=method,
        dictionary=dictionary,
        photos=len(sources),
        vectors=len(sample.vectors),
        quality={key: float(dictionary.stats[key]) for key in ("r2", "l0", "dead", "dead_share")},
        target=target,
        target_name=names[target],
        target_photos=target_photos,
        predicted=[(c, names[c], int(counts[c])) for c in ranked[:10]],
        concepts=shown_concepts,
        tests=tests,
        deletion_summary={
            "classes": len(tests),
            "drop_top": statistics.fmean(t.drop_top for t in tests),
            "drop_top_se": _stderr([t.drop_top for t in tests]),
            "drop_random": statistics.fmean(t.drop_random for t in tests),
            "drop_random_se": _stderr([t.drop_random for t in tests]),
            "difference": statistics.fmean(differences),
            "difference_se": _stderr(differences),
            "top_beats_random": sum(d > 0 for d in differences),
        },
        settings={
            "k": size_k,
            "method": method,
            "active": active if method == "sae" else None,
            "epochs": epochs if method == "sae" else None,
            "vectors": vectors,
            "shown": shown,
            "exemplars": exemplars,
            "test_classes": test_classes,
            "class_photos": class_photos,
            "removed": REMOVED,
            "random_draws": RANDOM_DRAWS,
            "steps": steps,
            "size": size,
            "seed": seed,
            **plain(render_options),
        },
        seconds=seconds,
        fingerprint=model_fingerprint(prepared),
    )
    if render:
        tick = time.perf_counter()
        renderer = CachedRenderer(
            prepared, make_cache(cache), steps=steps, size=size, seed=seed, options=render_options
        )
        queue = RenderQueue(renderer, progress, desc="concepts: renders")
        jobs = [
            (concept, queue.direction(layer, dictionary.directions[concept.index]))
            for concept in shown_concepts
        ]
        report.interrupted = not queue.run()
        for concept, job in jobs:
            if job.found is not None:
                concept.image, concept.score, concept.cached = job.found.image, job.found.score, job.cached
        report.rendered, report.reused = queue.rendered, queue.reused
        seconds["renders"] = time.perf_counter() - tick
    seconds["total"] = time.perf_counter() - start
    return report


# -- the steps -------------------------------------------------------------------------------------


Loader = Callable[[int, int], torch.Tensor]  # photos [i, j) at the model's input size


class _Sample:
    """Activation vectors (a few per photo and position), where each came from, and each photo's
    predicted class."""

    def __init__(self) -> None:
        self.parts: list[torch.Tensor] = []
        self.photo_parts: list[torch.Tensor] = []
        self.position_parts: list[torch.Tensor] = []
        self.predicted_parts: list[torch.Tensor] = []
        self.grid: tuple[int, int] = (1, 1)
        self.classes = 0

    def close(self) -> None:
        self.vectors = torch.cat(self.parts)
        self.photo = torch.cat(self.photo_parts)
        self.position = torch.cat(self.position_parts)
        self.predicted = torch.cat(self.predicted_parts)
        del self.parts, self.photo_parts, self.position_parts


def _sample(
    prepared: Prepared,
    layer: str,
    sources: list[str],
    load: Loader,
    vectors: int,
    seed: int,
    progress: bool,
) -> _Sample:
    """At most ``vectors`` activation vectors, an even share from every photo (the remainder, or
    with more photos than vectors one each, from photos drawn by the seed) at seeded random
    positions, and each photo's top class; memory stays bounded by the kept vectors, one batch and
    one class index per photo."""
    count = len(sources)
    sample = _Sample()
    base, extra = divmod(vectors, count)
    bonus = set(torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:extra].tolist())

    def keep(offset: int) -> Callable[[slice, dict[str, torch.Tensor]], None]:
        def visit(rows: slice, acts: dict[str, torch.Tensor]) -> None:
            act = acts[layer].float()
            if act.dim() == 4:
                sample.grid = (act.shape[2], act.shape[3])
                flat = act.flatten(2).transpose(1, 2)  # (B, positions, C)
            elif act.dim() == 2:
                flat = act[:, None, :]
            else:
                raise InvalidArgumentError(
                    f"layer {layer!r} outputs {tuple(act.shape[1:])}; concepts need a feature map (C, H, W), "
                    "patch tokens or a vector per photo"
                )
            for b in range(flat.shape[0]):
                index = offset + rows.start + b
                share = base + (index in bonus)
                if share == 0:
                    continue
                generator = torch.Generator().manual_seed(seed * 1_000_003 + index)
                take = torch.randperm(flat.shape[1], generator=generator)[:share].sort().values
                sample.parts.append(flat[b, take.to(flat.device)].cpu())
                sample.photo_parts.append(torch.full((len(take),), index))
                sample.position_parts.append(take)
            output = acts[OUTPUT].float()
            if output.dim() != 2:
                raise InvalidArgumentError(
                    f"the model's output has shape {tuple(output.shape)}; concepts rank for a class, "
                    "so they need a classifier's (N, classes) logits"
                )
            sample.classes = output.shape[1]
            sample.predicted_parts.append(output.argmax(1).cpu())

        return visit

    with frame.progress(count, "concepts: photos", progress, unit="photo") as bar:
        chunk = facts.images_per_pass(prepared, layer, PHOTO_BATCH)
        for offset in range(0, count, chunk):
            images = load(offset, min(count, offset + chunk))
            prepared.each_batch(images, {layer, OUTPUT}, keep(offset), batch=chunk)
            bar.update(len(images))
    sample.close()
    return sample


def _learn(
    vectors: torch.Tensor,
    layer: str,
    method: str,
    k: int,
    active: int,
    epochs: int,
    seed: int,
    checkpoint: str | os.PathLike[str] | None,
    progress: bool,
    device: torch.device,
) -> Dictionary:
    if method == "nmf":
        return dictionaries.learn_nmf(vectors, layer, k, seed)
    with frame.progress(None, "concepts: training the sparse autoencoder", progress, unit="step") as bar:

        def step(done: int, total: int, loss: float) -> None:
            bar.total = total
            bar.update(done - bar.n)
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

        learned = dictionaries.train_sae(
            vectors, layer, k, active, seed, epochs, checkpoint=checkpoint, progress=step, device=device
        )
    if learned is None:
        raise KeyboardInterrupt
    return learned


def _class_importance(
    prepared: Prepared, dictionary: Dictionary, images: torch.Tensor, c: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each concept's mean contribution to class ``c``'s logit over ``images`` (``(k,)``), and the
    logit of each image (``(N,)``)."""
    values, grads, output = prepared.gradients(images, [dictionary.layer], lambda out: out[:, c])
    _, contribution = dictionaries.contributions(
        dictionary, values[dictionary.layer].cpu(), grads[dictionary.layer].cpu()
    )
    return contribution.mean(0), output[:, c].cpu()


def _drops(
    prepared: Prepared,
    dictionary: Dictionary,
    images: torch.Tensor,
    c: int,
    base: torch.Tensor,
    removals: list[list[int]],
) -> list[float]:
    """For each set of concepts, the mean drop of class ``c``'s logit (``base`` unedited) over
    ``images`` when they are removed from the layer's activations."""
    drops = []
    for removed in removals:

        def edit(activation: torch.Tensor, removed: list[int] = removed) -> torch.Tensor:
            return dictionaries.without(dictionary, activation.cpu(), removed).to(activation.device)

        edited = prepared.output_edited(images, dictionary.layer, edit)[:, c].cpu()
        drops.append(float((base - edited).mean()))
    return drops


def _activity(
    dictionary: Dictionary, sample: _Sample, photos: int, shown: list[int], exemplars: int
) -> tuple[torch.Tensor, dict[int, int], dict[int, list[tuple[int, int, float]]]]:
    """Each concept's share of the codes' mass; for the shown ones, the photos each is active in
    (its code above :data:`~featviz.analysis.dictionary.ACTIVE_SHARE` of the photo's largest) and
    ``(photo, position, code)`` of its strongest position in its ``exemplars`` strongest photos.
    Memory: a chunk of codes, and per photo one number per shown concept."""
    mass = torch.zeros(dictionary.size, dtype=torch.float64)
    columns = torch.tensor(shown, dtype=torch.long)
    photo_max = torch.zeros(photos, len(shown))
    photo_arg = torch.zeros(photos, len(shown), dtype=torch.long)
    photo_top = torch.zeros(photos)
    chunk = 8192
    for start in range(0, len(sample.vectors), chunk):
        codes = dictionary.encode(sample.vectors[start : start + chunk])
        mass += codes.double().sum(0)
        ids = sample.photo[start : start + chunk]
        picked = codes[:, columns]
        # per photo, the strongest position of each shown concept so far (photos are contiguous rows)
        for photo in ids.unique().tolist():
            rows = torch.nonzero(ids == photo).flatten()
            value, where = picked[rows].max(0)
            better = value > photo_max[photo]
            photo_max[photo] = torch.where(better, value, photo_max[photo])
            photo_arg[photo] = torch.where(better, sample.position[start + rows[where]], photo_arg[photo])
            photo_top[photo] = max(float(photo_top[photo]), float(codes[rows].max()))
    share = (mass / mass.sum().clamp_min(1e-12)).float()
    on = photo_max > dictionaries.ACTIVE_SHARE * photo_top.clamp_min(1e-12)[:, None]
    active = {i: int(on[:, n].sum()) for n, i in enumerate(shown)}
    best: dict[int, list[tuple[int, int, float]]] = {}
    for n, i in enumerate(shown):
        strongest = photo_max[:, n].argsort(descending=True)[:exemplars]
        best[i] = [
            (int(p), int(photo_arg[p, n]), float(photo_max[p, n]))
            for p in strongest
            if float(photo_max[p, n]) > 0
        ]
    return share, active, best


def _stderr(values: list[float]) -> float:
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")


def load_dictionary(path: str | os.PathLike[str] | Path) -> Dictionary:
    """A saved concept dictionary (``dictionary.pt``); see :func:`featviz.analysis.dictionary.load`."""
    return dictionaries.load(path)


__all__ = ["Concepts", "concepts", "load_dictionary"]
