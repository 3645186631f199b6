#!/usr/bin/env bash
# Reproduces the shipped weights (python/fsrcnn_fast/data/fsrcnn_x{2,3,4}.safetensors) on CPU, exactly
# as they were made (same commands, seeds and thread counts; each file's metadata repeats its own).
# Needs PyTorch and Pillow (pip install torch==2.13.0 pillow) and the training sets under
# $FSRCNN_DATA (default ../shared/data): T91, General-100, BSD200-train. Never the test sets.
# Time on the 2-core machine: about 75 min for stage 1 (one thread, sharing the machine), then
# 5-15 min for each later stage.
set -euo pipefail
cd "$(dirname "$0")/.."
R=training/runs
T="python training/train_fsrcnn.py --batch 32 --lr-patch 32"
keep() { mkdir -p "$2" && cp "$1/best.pt" "$1/config.json" "$2/"; }  # freeze a stage's best checkpoint

# x3 stage 1: from scratch on T91 + General-100 + BSD200-train (validation: every 20th BSD200 image).
$T --scale 3 --iters 40000 --stop-at 36000 --seed 1 --threads 1 --val-every 1000 --out $R/fsrcnn_x3
keep $R/fsrcnn_x3 $R/x3_stage1
# x3 stage 2: the paper's training sets only (validation: every 10th image of them).
$T --scale 3 --iters 8000 --stop-at 6000 --lr 3e-4 --sets T91,General-100 --val-nth 10 --seed 5 --threads 1 \
   --val-every 500 --init $R/x3_stage1/best.pt --out $R/fsrcnn_x3_t
keep $R/fsrcnn_x3_t $R/x3_stage2
# x3 stage 3: deconvolution offset 3, which centres the 9 taps on MATLAB's bicubic grid at x3.
$T --scale 3 --deconv-offset 3 --iters 15000 --lr 5e-4 --sets T91,General-100 --val-nth 10 --seed 6 --threads 2 \
   --val-every 500 --init $R/x3_stage2/best.pt --out $R/fsrcnn_x3_o3
keep $R/fsrcnn_x3_o3 $R/x3_stage3
# x3 stage 4: a second cosine cycle at offset 3 (two threads: 0.047 s per iteration on the idle machine).
$T --scale 3 --deconv-offset 3 --iters 30000 --lr 3e-4 --sets T91,General-100 --val-nth 10 --seed 7 --threads 2 \
   --val-every 1000 --init $R/x3_stage3/best.pt --out $R/fsrcnn_x3_s4
keep $R/fsrcnn_x3_s4 $R/x3_stage4
# x3 stage 5: a third, gentler cycle.
$T --scale 3 --deconv-offset 3 --iters 24000 --lr 2e-4 --sets T91,General-100 --val-nth 10 --seed 8 --threads 2 \
   --val-every 1000 --init $R/x3_stage4/best.pt --out $R/fsrcnn_x3_s5
keep $R/fsrcnn_x3_s5 $R/x3_stage5
# x3 stage 6: a fourth cycle, one thread (~46 min).
$T --scale 3 --deconv-offset 3 --iters 24000 --lr 2e-4 --sets T91,General-100 --val-nth 10 --seed 11 --threads 1 \
   --val-every 1000 --init $R/x3_stage5/best.pt --out $R/fsrcnn_x3_s6c
keep $R/fsrcnn_x3_s6c $R/x3_stage6
# x3 stage 7: a fifth cycle on both threads (~19 min).
$T --scale 3 --deconv-offset 3 --iters 24000 --lr 2e-4 --sets T91,General-100 --val-nth 10 --seed 12 --threads 2 \
   --val-every 1000 --init $R/x3_stage6/best.pt --out $R/fsrcnn_x3_s7
keep $R/fsrcnn_x3_s7 $R/x3_stage7
# x3 stage 8: a sixth cycle on both threads (~21 min); the shipped fsrcnn x3.
$T --scale 3 --deconv-offset 3 --iters 24000 --lr 2e-4 --sets T91,General-100 --val-nth 10 --seed 13 --threads 2 \
   --val-every 1000 --init $R/x3_stage7/best.pt --out $R/fsrcnn_x3_s8
python training/export.py $R/fsrcnn_x3_s8/best.pt python/fsrcnn_fast/data/fsrcnn_x3.safetensors
# x2 and x4: fine-tuned from x3 stage 1 (the paper's transfer strategy), deconvolution re-learnt.
for s in 2 4; do
  $T --scale $s --iters 4000 --lr 5e-4 --sets T91,General-100 --val-nth 10 --seed 1 --threads 1 --val-every 500 \
     --init $R/x3_stage1/best.pt --out $R/fsrcnn_x$s
  python training/export.py $R/fsrcnn_x$s/best.pt python/fsrcnn_fast/data/fsrcnn_x$s.safetensors
done
# fsrcnn-multi: one model for x2/x3/x4 (the paper's transfer strategy). The x3 stage-5 network's layers are
# frozen and shared; only a deconvolution per scale is learnt (--freeze-shared; ~5 min each on one thread).
for s in 2 4; do
  $T --scale $s --freeze-shared --iters 3000 --lr 1e-3 --sets T91,General-100 --val-nth 10 --seed 2$s --threads 1 \
     --val-every 500 --init training/checkpoints/x3_stage5.pt --out $R/multi5_x$s
done
python training/export.py training/checkpoints/x3_stage5.pt $R/multi5_x2/best.pt $R/multi5_x4/best.pt \
  python/fsrcnn_fast/data/fsrcnn_multi.safetensors
# fsrcnn-s: FSRCNN-s (32,5,1), x3 from scratch on the paper's training sets at offset 3 (~30 min on one
# thread), then a deconvolution per scale on its frozen layers, as fsrcnn-multi.
$T --scale 3 --d 32 --s 5 --m 1 --deconv-offset 3 --iters 30000 --lr 1e-3 --sets T91,General-100 --val-nth 10 \
   --seed 31 --threads 1 --val-every 1000 --out $R/fsrcnn_s_x3
for s in 2 4; do
  $T --scale $s --d 32 --s 5 --m 1 --freeze-shared --iters 3000 --lr 1e-3 --sets T91,General-100 --val-nth 10 \
     --seed 3$s --threads 1 --val-every 500 --init $R/fsrcnn_s_x3/best.pt --out $R/fsrcnn_s_multi_x$s
done
python training/export.py $R/fsrcnn_s_x3/best.pt $R/fsrcnn_s_multi_x2/best.pt $R/fsrcnn_s_multi_x4/best.pt \
  python/fsrcnn_fast/data/fsrcnn_s.safetensors
