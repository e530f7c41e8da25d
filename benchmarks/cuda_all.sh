#!/usr/bin/env bash
# Every GPU measurement featviz records, in one go (about 9 minutes on an H200 before the whole-model
# microscope was added: 464 s measured without the Lucent step, which took about a minute in a run
# of its own; 137 s of it compiling; the microscope's target is 3 minutes on one H100):
#   bash benchmarks/cuda_all.sh OUTPUT_FOLDER [LUCENT_FOLDER]
# Writes the JSON of each run, the default render, an atlas grid and the log into OUTPUT_FOLDER.
set -uo pipefail
out=${1:?usage: cuda_all.sh OUTPUT_FOLDER [LUCENT_FOLDER]}
lucent=${2:-}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
{
  nvidia-smi -L
  "$python" -c "import torch, kornia, timm; print('torch', torch.__version__, 'kornia', kornia.__version__, 'timm', timm.__version__)"
  "$python" benchmarks/speed.py --device cuda --layer blocks.4 --steps 100 --batch-sizes auto,128,1 \
    --json "$out/speed_cuda_blocks4.json"
  "$python" benchmarks/speed.py --device cuda --layer classifier --steps 100 --batch-sizes auto,128 \
    --json "$out/speed_cuda_classifier.json"
  "$python" benchmarks/speed.py --device cuda --layer classifier --steps 100 --batch-sizes 128 \
    --precision fp32 --json "$out/speed_cuda_classifier_fp32.json"
  "$python" benchmarks/speed.py --device cuda --layer blocks.1 --steps 100 --batch-sizes auto \
    --json "$out/speed_cuda_blocks1.json"
  "$python" benchmarks/speed.py --device cuda --model random:vit_tiny_patch16_224 --layer blocks.5.mlp.fc1 \
    --steps 100 --batch-sizes auto,1 --json "$out/speed_cuda_vit_tiny_fc1.json"
  "$python" benchmarks/cuda_check.py --json "$out/cuda_check.json" --png "$out/cuda_blocks4_12.png"
  SECONDS=0
  "$python" -m featviz atlas efficientnet_lite0 blocks.5 --device cuda -q -o /tmp/cuda_atlas_blocks5 \
    && cp /tmp/cuda_atlas_blocks5/grid.png "$out/cuda_atlas_blocks5_grid.png"
  echo "featviz atlas efficientnet_lite0 blocks.5 (all channels, 256 steps): ${SECONDS} s wall"
  SECONDS=0  # the default explanation, cold (own cache folder) and warm
  "$python" -m featviz explain efficientnet_lite0 examples/images/cat_on_coffee.png --device cuda -q \
    --cache /tmp/cuda_explain_cache -o "$out/cuda_explain_cat"
  echo "featviz explain (default, cold cache): ${SECONDS} s wall"
  SECONDS=0
  "$python" -m featviz explain efficientnet_lite0 examples/images/cat_on_coffee.png --device cuda -q \
    --cache /tmp/cuda_explain_cache -o "$out/cuda_explain_cat"
  echo "featviz explain (default, warm cache): ${SECONDS} s wall"
  # Issue 25's three timings: the explanation (cold and warm, above), the whole-Lite0 microscope
  # (every block output, all 784 units, the defaults: 384 steps with negatives) and the default unit.
  "$python" benchmarks/microscope_speed.py --device cuda --whole /tmp/cuda_microscope_lite0 \
    --json "$out/microscope_whole_cuda.json"
  "$python" benchmarks/default_unit.py --device cuda --json "$out/default_unit_cuda.json"
  # Issue 27: the concepts example (NMF and the TopK sparse autoencoder) on the natural pool.
  "$python" examples/natural_folder.py /tmp/cuda_natural >/dev/null
  for method in nmf sae; do
    SECONDS=0
    "$python" -m featviz concepts efficientnet_lite0 blocks.6 /tmp/cuda_natural --target 285 --method "$method" \
      --device cuda -q --cache /tmp/cuda_concepts_cache -o "$out/cuda_concepts_$method"
    echo "featviz concepts blocks.6 --method $method (cold cache): ${SECONDS} s wall"
  done
  if [ -n "$lucent" ]; then  # Lucent one unit at a time vs featviz, same run
    "$python" benchmarks/speed.py --device cuda --layer blocks.4 --steps 50 --batch-sizes auto,1 \
      --lucent "$lucent" --json "$out/speed_cuda_blocks4_lucent.json"
  fi
} 2>&1 | tee "$out/log.txt"
