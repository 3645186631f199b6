#!/usr/bin/env bash
# Reproduces the shipped weights (python/fsrcnn_fast/data/fsrcnn_x{2,3,4}.safetensors) on CPU.
# Needs PyTorch and Pillow (pip install torch==2.13.0 pillow) and the training sets under
# $FSRCNN_DATA (default ../shared/data): T91, General-100, BSD200-train. Never the test sets.
# x3 is trained from scratch; x2 and x4 are fine-tuned from it (the paper's transfer strategy).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=training/runs

python training/train_fsrcnn.py --scale 3 --iters 40000 --batch 32 --lr-patch 32 --seed 1 --threads 1 \
    --val-every 1000 --out $RUNS/fsrcnn_x3
for s in 2 4; do
  python training/train_fsrcnn.py --scale $s --iters 8000 --batch 32 --lr-patch 32 --lr 5e-4 --seed 1 --threads 1 \
      --val-every 1000 --init $RUNS/fsrcnn_x3/best.pt --out $RUNS/fsrcnn_x$s &
done
wait
for s in 2 3 4; do
  python training/export.py $RUNS/fsrcnn_x$s/best.pt python/fsrcnn_fast/data/fsrcnn_x$s.safetensors
done
