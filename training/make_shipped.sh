#!/usr/bin/env bash
# Reproduces the shipped weights (python/fsrcnn_fast/data/*.safetensors) on CPU, exactly
# as they were made (same commands, seeds and thread counts; each file's metadata repeats its own).
# Needs PyTorch and Pillow (pip install torch==2.13.0 pillow) and the training sets under
# $FSRCNN_DATA (default ../shared/data): T91, General-100, BSD200-train. Never the test sets.
# Time on the 2-core machine: about 75 min for stage 1 (one thread, sharing the machine), then
# 5-20 min for each later stage (two threads). x3 stages 1-8 ran before the trainer's faster formulation of
# the same network (commit a87fce4): a rerun of them follows the same path up to float rounding.
set -euo pipefail
cd "$(dirname "$0")/.."
R=training/runs
T="python training/train_fsrcnn.py --batch 32 --lr-patch 32"
# Small steps (x3 stage 9 on): 16 patches of 24x24 LR, the loss on their inner 16x16 (later options win).
SMALL="--batch 16 --lr-patch 24 --loss-margin 4"
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
keep $R/fsrcnn_x3_s8 $R/x3_stage8
# x3 stage 9: smaller steps, more of them (one thread, ~22 min): batch 16 of 24x24 LR patches, the loss on
# their inner 16x16 (--loss-margin 4: outer pixels see the patch's padding, not the image), lr 1e-4, 90k
# iterations. Validation 29.801 (stage 8: 29.766). Same wall time with 16x16 patches
# and no margin (120k iterations): 29.775.
$T --scale 3 --deconv-offset 3 $SMALL --iters 90000 --lr 1e-4 --sets T91,General-100 \
   --val-nth 10 --seed 14 --threads 1 --val-every 5000 --init $R/x3_stage8/best.pt --out $R/fsrcnn_x3_s9p24m4
# x3 stage 10: another such cycle, 45k iterations (~11 min): validation 29.813, the shipped fsrcnn x3.
$T --scale 3 --deconv-offset 3 $SMALL --iters 45000 --lr 1e-4 --sets T91,General-100 \
   --val-nth 10 --seed 15 --threads 1 --val-every 5000 --init $R/fsrcnn_x3_s9p24m4/best.pt --out $R/fsrcnn_x3_s10
python training/export.py $R/fsrcnn_x3_s10/best.pt python/fsrcnn_fast/data/fsrcnn_x3.safetensors
# x2 and x4 (fsrcnn), each in four steps (~45 min per scale): a deconvolution learnt on the
# frozen x3 stage-8 layers (the paper's transfer strategy, as fsrcnn-multi below), then two cosine
# cycles of the whole network at that scale. x4 at offset 3: MATLAB's bicubic puts LR pixel p at HR 4p + 1.5,
# offset 3 centres the taps on 4p + 1, offset 4 on 4p (1.5 pixels off). At x2 offsets 3 and 4 are both
# half a pixel off; 4 is PyTorch's.
$T --scale 2 --deconv-offset 4 --freeze-shared --iters 3000 --lr 1e-3 --sets T91,General-100 --val-nth 10 --seed 42 \
   --threads 1 --val-every 500 --init training/checkpoints/x3_stage8.pt --out $R/multi8_x2
$T --scale 4 --deconv-offset 3 --freeze-shared --iters 3000 --lr 1e-3 --sets T91,General-100 --val-nth 10 --seed 44 \
   --threads 1 --val-every 500 --init training/checkpoints/x3_stage8.pt --out $R/multi8_x4
$T --scale 2 --deconv-offset 4 --iters 24000 --lr 3e-4 --sets T91,General-100 --val-nth 10 --seed 52 --threads 2 \
   --val-every 1000 --init $R/multi8_x2/best.pt --out $R/fsrcnn_x2_ft
$T --scale 4 --deconv-offset 3 --iters 24000 --lr 3e-4 --sets T91,General-100 --val-nth 10 --seed 54 --threads 2 \
   --val-every 1000 --init $R/multi8_x4/best.pt --out $R/fsrcnn_x4_ft
$T --scale 2 --deconv-offset 4 --iters 24000 --lr 2e-4 --sets T91,General-100 --val-nth 10 --seed 53 --threads 2 \
   --val-every 1000 --init $R/fsrcnn_x2_ft/best.pt --out $R/fsrcnn_x2_ft2
$T --scale 4 --deconv-offset 3 --iters 24000 --lr 2e-4 --sets T91,General-100 --val-nth 10 --seed 55 --threads 2 \
   --val-every 1000 --init $R/fsrcnn_x4_ft/best.pt --out $R/fsrcnn_x4_ft2
# A third cycle per scale in x3 stage 9's small steps (one thread each, the two in parallel, ~12 min).
$T --scale 2 --deconv-offset 4 $SMALL --iters 45000 --lr 1e-4 --sets T91,General-100 \
   --val-nth 10 --seed 56 --threads 1 --val-every 5000 --init $R/fsrcnn_x2_ft2/best.pt --out $R/fsrcnn_x2_ft3
$T --scale 4 --deconv-offset 3 $SMALL --iters 45000 --lr 1e-4 --sets T91,General-100 \
   --val-nth 10 --seed 57 --threads 1 --val-every 5000 --init $R/fsrcnn_x4_ft2/best.pt --out $R/fsrcnn_x4_ft3
for s in 2 4; do
  python training/export.py $R/fsrcnn_x${s}_ft3/best.pt python/fsrcnn_fast/data/fsrcnn_x$s.safetensors
done
# fsrcnn-multi: one model for x2/x3/x4, the x3 stage-10 network's layers shared by three deconvolutions
# (learnt as multi8_x2/x4 above, on stage 10; one thread each, ~2 min).
for s in 2 4; do
  o=$([ $s = 4 ] && echo 3 || echo 4)
  $T --scale $s --deconv-offset $o --freeze-shared --iters 3000 --lr 1e-3 --sets T91,General-100 --val-nth 10 \
     --seed 10$s --threads 1 --val-every 500 --init training/checkpoints/x3_stage10.pt --out $R/multi10_x$s
done
python training/export.py training/checkpoints/x3_stage10.pt $R/multi10_x2/best.pt $R/multi10_x4/best.pt \
  python/fsrcnn_fast/data/fsrcnn_multi.safetensors
# fsrcnn-s: FSRCNN-s (32,5,1), one network per scale. x3 from scratch on the paper's training sets at offset 3
# (~30 min on one thread), then two more cosine cycles (~8 min each on two threads); x2 and x4 as fsrcnn's:
# a deconvolution on the frozen x3 layers, then a whole-network cycle at that scale (~7 min each).
S="--d 32 --s 5 --m 1 --sets T91,General-100 --val-nth 10"
$T $S --scale 3 --deconv-offset 3 --iters 30000 --lr 1e-3 --seed 31 --threads 1 --val-every 1000 --out $R/fsrcnn_s_x3
$T $S --scale 3 --deconv-offset 3 --iters 30000 --lr 3e-4 --seed 32 --threads 2 --val-every 1000 \
   --init $R/fsrcnn_s_x3/best.pt --out $R/fsrcnn_s_x3_c2
$T $S --scale 3 --deconv-offset 3 --iters 30000 --lr 2e-4 --seed 33 --threads 2 --val-every 1000 \
   --init $R/fsrcnn_s_x3_c2/best.pt --out $R/fsrcnn_s_x3_c3
$T $S --scale 2 --deconv-offset 4 --freeze-shared --iters 3000 --lr 1e-3 --seed 72 --threads 2 --val-every 500 \
   --init $R/fsrcnn_s_x3_c3/best.pt --out $R/fsrcnn_s3_x2
$T $S --scale 4 --deconv-offset 3 --freeze-shared --iters 3000 --lr 1e-3 --seed 74 --threads 2 --val-every 500 \
   --init $R/fsrcnn_s_x3_c3/best.pt --out $R/fsrcnn_s3_x4
$T $S --scale 2 --deconv-offset 4 --iters 24000 --lr 3e-4 --seed 82 --threads 2 --val-every 1000 \
   --init $R/fsrcnn_s3_x2/best.pt --out $R/fsrcnn_s_x2_ft
$T $S --scale 4 --deconv-offset 3 --iters 24000 --lr 3e-4 --seed 84 --threads 2 --val-every 1000 \
   --init $R/fsrcnn_s3_x4/best.pt --out $R/fsrcnn_s_x4_ft
# x3: a fourth cycle in x3 stage 9's small steps (one thread, ~7 min)...
$T $S --scale 3 --deconv-offset 3 $SMALL --iters 60000 --lr 1e-4 --seed 34 --threads 1 \
   --val-every 5000 --init $R/fsrcnn_s_x3_c3/best.pt --out $R/fsrcnn_s_x3_c4
# and a fifth (~7 min): the shipped fsrcnn-s x3.
$T $S --scale 3 --deconv-offset 3 $SMALL --iters 60000 --lr 1e-4 --seed 35 --threads 1 \
   --val-every 5000 --init $R/fsrcnn_s_x3_c4/best.pt --out $R/fsrcnn_s_x3_c5
python training/export.py $R/fsrcnn_s_x3_c5/best.pt python/fsrcnn_fast/data/fsrcnn_s_x3.safetensors
# x2/x4: a second cycle each in small steps (one thread each, the two in parallel, ~8 min).
$T $S --scale 2 --deconv-offset 4 $SMALL --iters 45000 --lr 1e-4 --seed 86 --threads 1 \
   --val-every 5000 --init $R/fsrcnn_s_x2_ft/best.pt --out $R/fsrcnn_s_x2_ft2
$T $S --scale 4 --deconv-offset 3 $SMALL --iters 45000 --lr 1e-4 --seed 87 --threads 1 \
   --val-every 5000 --init $R/fsrcnn_s_x4_ft/best.pt --out $R/fsrcnn_s_x4_ft2
for s in 2 4; do
  python training/export.py $R/fsrcnn_s_x${s}_ft2/best.pt python/fsrcnn_fast/data/fsrcnn_s_x$s.safetensors
done
