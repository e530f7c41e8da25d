"""Cold and warm time of the default explanation, for this checkout and for others, alternated in one run.

    python benchmarks/explain_speed.py [--before /tmp/featviz_99c535d] [--rounds 1] [--json PATH] \\
        [--image examples/images/cat_on_coffee.png] [--out /tmp/explain_speed]

Each run is the README's command, ``featviz explain efficientnet_lite0 IMAGE -o DIR``, in a fresh
process with ``FEATVIZ_CACHE_DIR`` pointing at an empty folder (cold: every render made, the CPU
batch size measured anew), then the same command again on that cache (warm). ``--before`` names
other checkouts (e.g. a ``git worktree`` of an older commit); each is run with its own package on
``PYTHONPATH`` and its own ``featviz.cli``. Checkouts alternate within each round (this one first,
then each ``--before``), so the machine's noise falls on all of them. The table gives the median
wall time per checkout and its ratio to this checkout's; the first page's time (when
``index.html`` first appears, polled) and the stages the report records (``explanation.json``'s
``stages``: analysis, first page, renders, pages; plus the process's start-up) break the time
down. The JSON records the command, machine, every run and whether the reports' pictures are
identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import quality
import torch

HERE = Path(__file__).resolve().parent.parent


def _run(checkout: Path, image: str, out: Path, cache: Path) -> dict[str, object]:
    """One run: its wall time, when its first page appeared (polled every 0.1 s; None when only
    the finished report was written) and the stages its explanation.json records (if any)."""
    env = {**os.environ, "FEATVIZ_CACHE_DIR": str(cache), "PYTHONPATH": str(checkout)}
    command = [
        sys.executable,
        "-m",
        "featviz.cli",
        "explain",
        "efficientnet_lite0",
        image,
        "-o",
        str(out),
        "-q",
    ]
    page = out / "index.html"
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=checkout, stdout=subprocess.DEVNULL)
    first_page = None
    while process.poll() is None:
        if first_page is None and page.is_file():
            first_page = time.perf_counter() - start
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed with exit code {process.returncode}")
    record = json.loads((out / "explanation.json").read_text(encoding="utf-8"))
    stages = {"start-up": seconds - record["seconds"], **record.get("stages", {})}
    return {"seconds": seconds, "first_page": first_page, "stages": stages}


def _pictures(folder: Path) -> dict[str, str]:
    """Each JPEG of a report and a hash of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in sorted(folder.glob("*.jpg"))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", action="append", default=[], help="another checkout to time (repeatable)")
    parser.add_argument("--image", default=str(HERE / "examples/images/cat_on_coffee.png"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", default=tempfile.mkdtemp(prefix="explain_speed_"))
    parser.add_argument("--json")
    args = parser.parse_args()
    checkouts = {"this checkout": HERE, **{f"before: {Path(b).name}": Path(b).resolve() for b in args.before}}
    runs: dict[str, dict[str, list[dict[str, object]]]] = {
        name: {"cold": [], "warm": []} for name in checkouts
    }
    pictures: dict[str, dict[str, str]] = {}
    for round_ in range(args.rounds):
        for index, (name, checkout) in enumerate(checkouts.items()):
            folder = Path(args.out) / f"r{round_}_{index}"
            cache = folder / "cache"
            for kind in ("cold", "warm"):
                run = _run(checkout, args.image, folder / f"report_{kind}", cache)
                runs[name][kind].append(run)
                first = f", first page after {run['first_page']:.1f} s" if run["first_page"] else ""
                print(f"round {round_ + 1}, {name}: {kind} {run['seconds']:.1f} s{first}", flush=True)
            pictures[name] = _pictures(folder / "report_cold")
    times = {n: {k: [float(r["seconds"]) for r in v] for k, v in kinds.items()} for n, kinds in runs.items()}
    base = {kind: statistics.median(times["this checkout"][kind]) for kind in ("cold", "warm")}
    print("\n| checkout | cold, s | first page, s | warm, s | cold vs this checkout |\n|---|---|---|---|---|")
    for name, kinds in times.items():
        cold, warm = statistics.median(kinds["cold"]), statistics.median(kinds["warm"])
        firsts = [r["first_page"] for r in runs[name]["cold"] if r["first_page"]]
        first = f"{statistics.median(firsts):.1f}" if firsts else "(none)"
        print(f"| {name} | {cold:.1f} | {first} | {warm:.1f} | {cold / base['cold']:.2f}x |")
    print("\nStages (s) of each checkout's cold and warm runs (the median run's; start-up = wall time")
    print("before the explanation's own clock: Python, imports, the model):")
    for name, kinds in runs.items():
        for kind, found in kinds.items():
            middle = sorted(found, key=lambda r: float(r["seconds"]))[len(found) // 2]
            parts = ", ".join(f"{stage} {value:.1f}" for stage, value in middle["stages"].items())
            print(f"  {name}, {kind}: {parts}")
    same = {name: found == pictures["this checkout"] for name, found in pictures.items()}
    print(f"pictures identical to this checkout's: {same}")
    record = {
        "command": " ".join(sys.argv),
        "machine": quality.machine(),
        "torch": torch.__version__,
        "times": times,
        "runs": runs,
        "median": {n: {k: statistics.median(v) for k, v in kinds.items()} for n, kinds in times.items()},
        "identical_pictures": same,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
