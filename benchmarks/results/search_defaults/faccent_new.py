"""faccent 1.0.3's default renders of some class logits, scored like quality.py's rows.

python benchmarks/results/search_defaults/faccent_new.py 1,130,309,417,949
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # benchmarks/
import others  # noqa: E402
import quality  # noqa: E402
import torch  # noqa: E402

import featviz  # noqa: E402

torch.set_num_threads(2)
classes = [int(c) for c in sys.argv[1].split(",")]
model = featviz.load_model("efficientnet_lite0")
targets = [f"output:{c}" for c in classes]
images, seconds = others.faccent(["/tmp/faccent_pkg", "/tmp/faccent_deps"], model, targets, "classifier")
judges = ["efficientnet_lite1", "efficientnet_lite2"]
row = quality.score(model, images, "faccent", 99, seconds, [], classes, judges)
keys = ("top5_transfer", "class_probability", "plausibility", "spectral_slope", "high_frequency_share")
print(json.dumps({k: row[k] for k in (*keys, "seconds_per_unit")}))
print(json.dumps(row["transferability"]))
