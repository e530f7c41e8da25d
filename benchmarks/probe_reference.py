"""The diagnosis's probes against scikit-learn, layer by layer, on a labelled photo folder.

    python benchmarks/probe_reference.py /tmp/digits [--model efficientnet_lite0] [--ridge] [--json PATH]

Reads the folder as ``featviz diagnose --labels-from-folders`` does (one subfolder per class),
takes every block output's features pooled over positions, runs featviz's probe
(:func:`featviz.analysis.probes.linear_probe`: logistic regression with λ by 3-fold CV inside each
training split, 5 stratified splits; ``--ridge`` adds the closed-form ridge probe) and, on the very
same splits, scikit-learn's ``LogisticRegressionCV`` (standardized features, 8 C values, 3-fold CV
inside the training split). Prints per layer featviz's accuracy with its 95 % interval and
scikit-learn's mean accuracy, and whether it lies inside. scikit-learn is the independent
reference here, never a featviz dependency.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegressionCV
from sklearn.preprocessing import StandardScaler

import featviz
from featviz import files, imaging
from featviz.analysis.probes import linear_probe, stratified_splits
from featviz.model.facts import default_layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--json")
    parser.add_argument("--ridge", action="store_true", help="also the closed-form ridge probe")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)  # scikit-learn's notices of defaults
    prepared = featviz.prepare(args.model, device="cpu")
    layers = default_layers(prepared)
    classes = sorted(p.name for p in Path(args.folder).iterdir() if p.is_dir())
    paths, labels = [], []
    for index, name in enumerate(classes):
        found = files.image_files(Path(args.folder) / name)
        paths += found
        labels += [index] * len(found)
    y = torch.tensor(labels)
    pooled: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    start = time.perf_counter()
    for begin in range(0, len(paths), 64):
        images = imaging.load_images(paths[begin : begin + 64], prepared.default_size)
        for layer, act in prepared.activations(images, layers).items():
            pooled[layer].append((act.flatten(2).mean(2) if act.dim() > 2 else act).cpu())
    features = {layer: torch.cat(parts) for layer, parts in pooled.items()}
    print(f"{len(paths)} images, {len(classes)} classes, features in {time.perf_counter() - start:.0f} s")
    rows = []
    for layer in layers:
        begin = time.perf_counter()
        ours = linear_probe(features[layer], y, seed=0)
        seconds = time.perf_counter() - begin
        data, truth = features[layer].double().numpy(), y.numpy()
        scores = []
        for train, test in stratified_splits(y, seed=0):
            scaler = StandardScaler().fit(data[train])
            reference = LogisticRegressionCV(Cs=8, cv=3, max_iter=3000)
            reference.fit(scaler.transform(data[train]), truth[train])
            scores.append(reference.score(scaler.transform(data[test]), truth[test]))
        theirs = float(np.mean(scores))
        row = {
            "layer": layer,
            "featviz": round(ours.accuracy, 4),
            "ci": [round(ours.ci_low, 4), round(ours.ci_high, 4)],
            "sklearn_logistic_cv": round(theirs, 4),
            "inside": ours.ci_low <= theirs <= ours.ci_high,
            "featviz_seconds": round(seconds, 1),
        }
        if args.ridge:
            ridge = linear_probe(features[layer], y, seed=0, method="ridge")
            row["ridge"] = round(ridge.accuracy, 4)
            row["ridge_ci"] = [round(ridge.ci_low, 4), round(ridge.ci_high, 4)]
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        command = "python benchmarks/probe_reference.py " + args.folder + (" --ridge" if args.ridge else "")
        record = {"command": command, "machine": platform.processor() or platform.machine(), "rows": rows}
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=1)


if __name__ == "__main__":
    main()
