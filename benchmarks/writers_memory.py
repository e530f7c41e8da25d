"""Peak memory of the writers that read a photo folder, for the folder and for a folder twice as big.

    python benchmarks/writers_memory.py PHOTO_DIR [--json PATH]

Runs, each in a fresh process, ``featviz explain`` on the folder's first photo (no renders: its
numbers stage), ``featviz diagnose`` (labels from the subfolders) and ``featviz activation-atlas``
of blocks.4 (no renders), on PHOTO_DIR and on a folder holding it twice, and prints each process's
peak resident memory (``ru_maxrss`` of the child). A writer whose memory follows a bound, not the
folder, shows (nearly) the same peak for both: explain reads one photo; diagnose streams batches
and keeps pooled features (images × channels); the activation atlas streams photos and keeps at
most its ``--vectors`` activation vectors.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import quality

from featviz.files import image_files


def _peak(argv: list[str]) -> tuple[float, float]:
    """Run the featviz command ``argv`` in a fresh process: (its peak RSS in GB, seconds)."""
    start = time.perf_counter()
    code = (
        "import resource, sys\nfrom featviz.cli import main\ncode = main(sys.argv[1:])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\nsys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], check=True, capture_output=True, text=True)
    return int(done.stdout.strip().splitlines()[-1]) / 2**20, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("photos")
    parser.add_argument("--json")
    args = parser.parse_args()
    photos = Path(args.photos)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        double = Path(work) / "double"
        for copy in ("a", "b"):
            shutil.copytree(photos, double / copy)
        # the same classes twice as many photos: a/<class>/x and b/<class>/x become <class>/a_x, <class>/b_x
        twice = Path(work) / "twice"
        for path in image_files(double):
            copy, cls, name = path.relative_to(double).parts[0], path.parent.name, path.name
            (twice / cls).mkdir(parents=True, exist_ok=True)
            path.rename(twice / cls / f"{copy}_{name}")
        first = image_files(photos)[0]
        for folder, label in ((photos, "the folder"), (twice, "twice the folder")):
            count = len(image_files(folder))
            commands = {
                "explain (no renders)": ["explain", "efficientnet_lite0", str(first), "--no-render"],
                "diagnose": [
                    "diagnose",
                    "efficientnet_lite0",
                    str(folder),
                    "--labels-from-folders",
                    "--no-render",
                ],
                "activation-atlas blocks.4 (no renders)": [
                    "activation-atlas",
                    "efficientnet_lite0",
                    "blocks.4",
                    str(folder),
                    "--no-render",
                ],
            }
            for name, argv in commands.items():
                peak, seconds = _peak([*argv, "-o", str(Path(work) / "out" / name.split()[0]), "-q"])
                rows.append({"writer": name, "photos": count, "peak_rss_gb": peak, "seconds": seconds})
                print(
                    f"{name}, {label} ({count} photos): peak RSS {peak:.2f} GB, {seconds:.1f} s", flush=True
                )
    if args.json:
        record = {"command": " ".join(sys.argv), "machine": quality.machine(), "rows": rows}
        Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
