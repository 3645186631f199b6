#!/usr/bin/env bash
# Reproduces the shipped weights (python/fsrcnn_fast/data/*.safetensors) on CPU, exactly as they were
# made (same commands, seeds and thread counts; each file's metadata repeats its own). One command per
# shipped file, or all of them:
#
#   bash training/make_shipped.sh fsrcnn_x3        # or fsrcnn_x2, fsrcnn_x4, fsrcnn_multi,
#                                                  #    fsrcnn_s_x2, fsrcnn_s_x3, fsrcnn_s_x4
#   bash training/make_shipped.sh                  # every one, in that order
#
# A model that starts from another's layers starts from its committed checkpoint (training/checkpoints/),
# so each command runs alone. Needs PyTorch and Pillow (pip install torch==2.13.0 pillow) and the
# training sets under $FSRCNN_DATA (default ../shared/data): T91, General-100, BSD200-train. Never the
# test sets. Times are on the 2-core machine, one thread per run, two runs at a time, as noted at each
# (fsrcnn_multi the longest: ~5.5 h on one thread of the idle machine; fsrcnn_x3 ~3.3 h).
set -euo pipefail
cd "$(dirname "$0")/.."
R=training/runs
C=training/checkpoints
T="python training/train_fsrcnn.py"
# Small steps: 16 patches of 24x24 LR, the loss on their inner 16x16.
SMALL="--batch 16 --lr-patch 24 --loss-margin 4"
# BSD200-train joins the paper's sets, each set drawn equally often, and validation
# is every 10th image of all three (T91 10, General-100 5, BSD200-train 20; the last unseen by the
# authors' release too, so `python training/score.py` compares with it on unseen images).
BAL="--sets T91,General-100,BSD200-train --balance-sets --val-sets T91,General-100,BSD200-train --val-nth 10"
export_best() { python training/export.py "$R/$1/best.pt" "python/fsrcnn_fast/data/$2.safetensors"; }
# The recipe that works best: one long cosine cycle of small steps on $BAL (lr 1e-3 down to 1e-5 unless
# the arguments say otherwise, one thread) into run directory $1.
long_cycle() {
  local out=$1; shift
  $T $SMALL $BAL --lr 1e-3 --threads 1 --val-every 20000 "$@" --out $R/$out
}
# Cycle $2 (2, 3, ...) of the network whose first cycle is run directory $1, at learning rate $3, from the
# previous cycle's best, into $1_c$2.
next_cycle() {
  local first=$1 n=$2 lr=$3; shift 3
  local prev=$first; (( n > 2 )) && prev=${first}_c$((n - 1))
  long_cycle ${first}_c$n --lr $lr "$@" --init $R/$prev/best.pt
}
# A cycle that teaches the image border: into run $1 from run $2's best, lr 3e-4, 150k iterations, with
# patches flush with an image edge on a side 15 % of the time (--edge-prob), the loss counting that edge.
EDGE="--edge-prob 0.15"
edge_cycle() {
  local out=$1 init=$2; shift 2
  long_cycle $out --lr 3e-4 --val-every 10000 --iters 150000 $EDGE --init $R/$init/best.pt "$@"
}

# x3_edge, fsrcnn x3's teacher (the shipped fsrcnn x3 until issue 22; `bash training/make_shipped.sh x3_edge`
# remakes it in training/runs/fsrcnn_x3_edge): from scratch, one long cosine cycle of small steps at the deconvolution offset that centres
# the taps at x3 (one thread, ~103 min, 440k iterations; validation 29.311; its checkpoint
# training/checkpoints/x3_scratch.pt is in git history before e4834b8), then a second cycle from it at lr 3e-4 (400k iterations, ~95 min):
# validation 29.333, per split (training/score.py --scale 3) 31.115 / 28.064 / 28.759 against the first
# cycle's 31.091 / 28.034 / 28.740. The network they replace (twelve stages over four sessions, starting
# from scratch at offset 4 with larger steps) reached 29.148. Then an edge cycle (~39 min, committed as
# training/checkpoints/x3_edge.pt): validation 29.362, per split 31.187 / 28.081 / 28.770, and within 3 LR
# pixels of the edge (training/score.py --border 3) 31.087 / 29.719 / 30.402 against 30.835 / 29.571 / 30.237.
x3_edge() {
  local P="--scale 3 --deconv-offset 3"
  long_cycle fsrcnn_x3_scratch $P --iters 440000 --seed 301
  next_cycle fsrcnn_x3_scratch 2 3e-4 $P --iters 400000 --seed 302
  edge_cycle fsrcnn_x3_edge fsrcnn_x3_scratch_c2 $P --seed 305
}

# x2_edge, fsrcnn x2's teacher (the shipped fsrcnn x2 until issue 22; `bash training/make_shipped.sh x2_edge`
# remakes it in training/runs/fsrcnn_x2_edge, committed as training/checkpoints/x2_edge.pt): from scratch at
# x2, as x3_edge (one thread, ~116 min, 420k iterations). Validation (every 10th image of the three sets)
# 32.851; the network it replaced, fine-tuned in five steps from the x3 stage-8 layers, 32.600 (per split,
# training/score.py --scale 2: 34.399 / 31.719 / 31.922).
# Offsets 3 and 4 are both half a pixel off at x2 (MATLAB's bicubic puts LR pixel p at HR 2p + 0.5); 4 is PyTorch's.
# Then an edge cycle (seed 202, ~44 min): validation 32.886, per split 34.673 / 32.049 / 32.201 (was
# 34.632 / 32.004 / 32.171), within 3 LR pixels of the edge 35.013 / 33.424 / 33.901 (was 34.688 / 33.052 /
# 33.564).
x2_edge() {
  local P="--scale 2 --deconv-offset 4"
  long_cycle fsrcnn_x2_scratch $P --iters 420000 --seed 201
  edge_cycle fsrcnn_x2_edge fsrcnn_x2_scratch $P --seed 202
}

# fsrcnn x2 (issue 22): factored from scratch, as fsrcnn_x4 at x2 (offset 4) but lr 3e-4 (at 5e-4, seed 210,
# validation fell from 28.99 at 10k to 24.20 at 40k: diverged), distilled from x2_edge's 8-view mean with
# edge patches, seed 210, one thread; a 400k-step cosine whose best checkpoint up to 330k ships (--stop-at
# 330000: the run's own schedule, stopped there; 4.6 h beside one to four other runs, resumed across
# sessions). Validation 32.956 (x2_edge 32.886); per split (training/score.py --scale 2) 34.792 / 32.134 /
# 32.243 against x2_edge's 34.673 / 32.049 / 32.201 and the authors' 34.579 / 31.952 / 32.091; within 3 LR
# pixels of the edge (--border 3) 35.235 / 33.660 / 33.997 against 35.013 / 33.424 / 33.901. Its best up to
# 170k was level with x2_edge (validation 32.886; BSD200-train -0.012), up to 230k above it on every split
# (34.749 / 32.065 / 32.237), up to 250k 34.774 / 32.065 / 32.230 (shipped for a few hours), up to 290k
# 34.781 / 32.122 / 32.243.
fsrcnn_x2() {
  long_cycle fsrcnn_x2_expand --scale 2 --deconv-offset 4 $EXPANDED --teacher $C/x2_edge.pt --lr 3e-4 \
    --iters 400000 --seed 210 --stop-at 330000
  export_best fsrcnn_x2_expand fsrcnn_x2
}

# x4_scratch, fsrcnn x4's teacher (the shipped fsrcnn x4 until issue 22; `bash training/make_shipped.sh
# x4_scratch` remakes it in training/runs/fsrcnn_x4_scratch, committed as training/checkpoints/x4_scratch.pt):
# from scratch, as x3_edge's first cycle (one thread, 500k iterations, ~122 min). Validation
# 27.552; per split (training/score.py --scale 4) 29.059 / 25.951 / 27.198, where the network it replaces
# (five fine-tuning steps from the x3 stage-8 layers, the recipe until session 6) had 27.365 and
# 28.788 / 25.702 / 27.069. Offset 3: MATLAB's bicubic puts LR pixel p at HR 4p + 1.5, offset 3 centres the
# taps on 4p + 1, offset 4 on 4p (1.5 pixels off).
x4_scratch() {
  long_cycle fsrcnn_x4_scratch --scale 4 --deconv-offset 3 --iters 500000 --seed 401
}

# fsrcnn x4 (issue 22): factored from scratch, fsrcnn_x3's first run at x4: distilled from x4_scratch's
# 8-view mean with edge patches, lr 5e-4, seed 410, one thread; a 400k-step cosine (5.2 h beside two to four
# other runs, resumed across sessions), its best checkpoint at 380k. Validation 27.610 (x4_scratch 27.552);
# per split (training/score.py --scale 4) 29.153 / 26.000 / 27.240 against x4_scratch's 29.059 / 25.951 /
# 27.198 and the authors' 28.932 / 25.877 / 27.112; within 3 LR pixels of the edge (--border 3) 28.922 /
# 27.736 / 28.962 against 28.771 / 27.638 / 28.833. Until then its best up to 240k shipped (--stop-at
# 240000; validation 27.594, per split 29.134 / 25.954 / 27.234), whose checkpoints from 170k to 220k had
# moved General-100 by -0.019 to +0.007 while the other two rose.
fsrcnn_x4() {
  long_cycle fsrcnn_x4_expand --scale 4 --deconv-offset 3 $EXPANDED --teacher $C/x4_scratch.pt --lr 5e-4 \
    --iters 400000 --seed 410
  export_best fsrcnn_x4_expand fsrcnn_x4
}

# fsrcnn-multi: one model for x2/x3/x4, trained for every scale together (issue 22). From scratch, one
# network whose shared layers learn x2, x3 and x4 at once (--scales 2,3,4: each step a batch of 16 patches
# per scale through the shared layers and a deconvolution per scale at the per-scale files' offsets 4, 3,
# 3), factored (--expand 256), each scale distilled from its edge-trained fsrcnn teacher's 8-view mean, edge
# patches: fsrcnn_s_expanded's recipe for three scales at once. The loss adds each scale's MSE over its
# running mean (--joint-loss psnr, the default: the gradient of the sum of the scales' PSNRs); validation
# is the mean of the three scales' held-out PSNRs. A step costs 1.08-1.11x three plain per-scale steps
# (python training/step_cost.py): 400k steps ~5.5 h on one thread of the idle machine (the per-scale runs'
# 16.6 + 14.0 + 14.6 ms a step, from their times above, x 1.1), plus ~15 min for the three teachers'
# 8-view passes over the training sets (13 min of CPU measured on T91 and scaled by area) and about three
# times a per-scale run's memory (three scales' training pairs). --resume continues it if a session ends.
# The shipped file is the run's best checkpoint up to 90k of its 400k-step cosine (3.3 h beside other runs;
# --stop-at: the run's own schedule, stopped there; resumed with --resume it goes on to 400k and gives the
# same checkpoints): validation (x2 / x3 / x4) 32.874 / 29.345 / 27.548, the per-scale teachers' 32.886 /
# 29.362 / 27.552. Per split (training/score.py --scale S, T91 / General-100 / BSD200-train): x2 34.684 /
# 32.074 / 32.168, x3 31.177 / 28.090 / 28.744, x4 29.043 / 25.979 / 27.193: from 0.03 dB above to 0.03
# below the shipped fsrcnn at x2 and x4, 0.03-0.10 below it at x3 (the factored x3, ahead of x3_edge). Against
# the factored fsrcnn x4 and the General-100-weighted x3 that ship since: from 0.03 above to 0.09 below at x4,
# 0.05-0.10 below at x3.
# The file it replaces (the layers of an earlier x3 network, frozen, under x2 and x4 deconvolutions learnt
# on them: this script's fsrcnn_multi and x3_stage12 at commit f1cbd24) was 0.17-0.72 dB below fsrcnn on
# every held-out split.
fsrcnn_multi() {
  long_cycle fsrcnn_multi_joint --scales 2,3,4 --deconv-offsets 4,3,3 $EXPANDED \
    --teacher $C/x2_edge.pt,$C/x3_edge.pt,$C/x4_scratch.pt --lr 5e-4 --iters 400000 --seed 501 --stop-at 90000
  export_best fsrcnn_multi_joint fsrcnn_multi
}

# fsrcnn x3 (issue 22): factored from scratch, fsrcnn_s_expanded's recipe for the 56-channel network:
# distilled from x3_edge's 8-view mean with edge patches, 400k iterations at lr 5e-4, seed 310, one thread
# (~3.3 h idle at ~30 ms a step; 5.5 h beside other runs). Started at commit e326812 (whose trainer keeps
# the factored layers channels-first; a rerun on later commits matches up to float rounding), resumed
# across sessions with --resume. Validation 29.412 (x3_edge 29.362); per split (training/score.py
# --scale 3, T91 / General-100 / BSD200-train) 31.275 / 28.119 / 28.804 against x3_edge's 31.187 / 28.081
# / 28.770 and the authors' 31.119 / 28.079 / 28.707; within 3 LR pixels of the edge (--border 3) 31.225 /
# 29.749 / 30.464 against 31.087 / 29.719 / 30.402. Tried after it and not kept: a second such cycle from
# its best, distilled from its own 8-view mean (lr 1.5e-4, 100k, seed 311): validation 29.416, per split
# 31.283 / 28.120 / 28.807: +0.008 / +0.001 / +0.003 dB, too little for another 70-min stage.
# Then the cycle that ships: from the 400k run's best, drawing General-100 twice as
# often as each other set (--set-shares 1,2,1; the authors' release ends with a General-100 fine-tune and its
# held-out five were among the images it trained on), distilled from the same best's 8-view mean, lr
# 1.5e-4, 60k iterations, seed 312 (~55 min beside three other runs): validation 29.413, per split 31.277 /
# 28.135 / 28.801: +0.002 / +0.016 / -0.003 dB, General-100 now above the authors' + 0.05 (28.129), the
# mean of the 35 images unchanged (+0.001). (It ran from a copy of fsrcnn_x3_expand's best.)
fsrcnn_x3() {
  long_cycle fsrcnn_x3_expand --scale 3 --deconv-offset 3 $EXPANDED --teacher $C/x3_edge.pt --lr 5e-4 \
    --iters 400000 --seed 310
  local first=$R/fsrcnn_x3_expand/best.pt
  $T $SMALL --sets T91,General-100,BSD200-train --set-shares 1,2,1 --val-sets T91,General-100,BSD200-train \
    --val-nth 10 --threads 1 --scale 3 --deconv-offset 3 $EXPANDED --teacher $first --init $first --lr 1.5e-4 \
    --iters 60000 --seed 312 --out $R/fsrcnn_x3_g100
  export_best fsrcnn_x3_g100 fsrcnn_x3
}

# fsrcnn-s: FSRCNN-s (32,5,1), one network per scale.
S="--d 32 --s 5 --m 1"
# The recipe that trains FSRCNN-s best: from scratch, every convolution but the deconvolution trained as
# collapsible linear factors (--expand 256: a k x k convolution to 256 channels and a 1 x 1 one back, plus
# the identity on the map layer, multiplied into the plain layer at every step and in every checkpoint:
# the same network, found by a better path), distilled from the first step from edge-trained teacher $3's
# 8-view mean, with edge patches; 400k iterations at lr 5e-4 into fsrcnn_s_x$1_expand. Scale $1, deconv
# offset $2, seed $4.
EXPANDED="--expand 256 --teacher-weight 0.5 --teacher-ensemble $EDGE --val-every 10000"
# One such cycle into run $1 at scale $2, offset $3, from teacher $4; the rest of the options follow.
expanded_cycle() {
  local out=$1 scale=$2 offset=$3 teacher=$4; shift 4
  long_cycle $out $S --scale $scale --deconv-offset $offset $EXPANDED --teacher $C/$teacher.pt "$@"
}
fsrcnn_s_expanded() {
  expanded_cycle fsrcnn_s_x$1_expand $1 $2 $3 --lr 5e-4 --iters 400000 --seed $4
}

# fsrcnn-s x3: fsrcnn_s_expanded (seed 380, ~72 min): validation 29.031, per split (training/score.py) 30.747
# / 27.643 / 28.520, in git history before e4834b8 as
# training/checkpoints/fsrcnn_s_x3_expand.pt; then a second such cycle from
# it at lr 1.5e-4, 32 patches a step (100k, seed 381, ~29 min): validation 29.034, per split 30.752 / 27.647
# / 28.522, within 3 LR pixels of the edge 30.708 / 29.350 / 30.124.
# The network it replaces was a chain of plain cycles, 2.0M iterations in all (from scratch 500k, two more
# cycles, distillation from fsrcnn x3 and from its 8-view mean, an edge cycle, four distillation cycles with
# edges; its checkpoints are in git history before e4834b8, training/checkpoints/fsrcnn_s_x3_long.pt to
# fsrcnn_s_x3_edge_kde4.pt, each .json its command): validation 28.995, per split 30.711 / 27.591 / 28.488,
# at the edge 30.624 / 29.258 / 30.150. Its fifth such cycle with --expand 256 (lr 1e-4, 100k) reached
# 29.003 (30.731 / 27.609 / 28.488) where plain cycles had stopped at 28.995: the factors, not the
# iterations, make the difference.
# Tried after c2 and not kept: a third cycle from it distilled from the factored fsrcnn x3 (fsrcnn_x3's
# best; lr 1.5e-4, 32 patches, 100k, seed 382): validation 29.037, per split 30.759 / 27.654 / 28.522
# (+0.007 / +0.007 / 0.000). And one drawing General-100 three times as often as each other set (--set-shares
# 1,3,1; from c2, distilled from fsrcnn_x3_expand's best, lr 1.5e-4, 60k, seed 383): validation 29.030, per split
# 30.750 / 27.650 / 28.515 (its last checkpoint 30.747 / 27.658 / 28.514): General-100 +0.003 to +0.011 for
# BSD200-train -0.007; more of General-100's training images barely moves its held-out five. Nor does its
# extreme, the paper's sets only with General-100 three times as often as T91 (--sets T91,General-100
# --set-shares 1,3; from c2, same teacher, lr 1.5e-4, 50k, seed 384, ~20 min): per split 30.749 / 27.667 /
# 28.506, General-100 +0.020 for BSD200-train -0.016, still below the authors' 27.670 there.
# Nor the authors' own last stage, General-100 alone with no teacher (--sets General-100; from c2, lr 1.5e-4,
# 50k, seed 386, ~35 min): 30.707 / 27.683 / 28.490, General-100 +0.036 (the authors' + 0.013) for T91 -0.045
# and BSD200-train -0.032; weight averages of it with c2 trade along the same line (half of each: 30.736 /
# 27.667 / 28.506).
# Nor a fresh fsrcnn_s_expanded run distilled from fsrcnn_x3_expand's best instead of x3_edge, General-100
# drawn twice as often (--set-shares 1,2,1, seed 387, 400k, ~1.9 h): best at 380k, validation 29.039, per split
# 30.775 / 27.646 / 28.520 (T91 +0.023, General-100 level, BSD200-train -0.002 against c2).
fsrcnn_s_x3() {
  fsrcnn_s_expanded 3 3 x3_edge 380
  expanded_cycle fsrcnn_s_x3_expand_c2 3 3 x3_edge --lr 1.5e-4 --batch 32 --iters 100000 --seed 381 \
    --init $R/fsrcnn_s_x3_expand/best.pt
  export_best fsrcnn_s_x3_expand_c2 fsrcnn_s_x3
}

# fsrcnn-s x4 (issue 22): fsrcnn_s_expanded at x4 (offset 3, distilled from x4_scratch's 8-view mean, seed
# 470), 400k iterations (4.4 h beside other runs, resumed across sessions with --resume), its best
# checkpoint at 370k: validation 27.277, per split (training/score.py --scale 4, T91 / General-100 /
# BSD200-train) 28.668 / 25.611 / 26.998 against the authors' 28.473 / 25.508 / 26.893. Until then the
# best checkpoint up to 180k shipped (--stop-at 180000; validation 27.254, per split 28.631 / 25.593 /
# 26.980), and before it a chain of plain cycles (this script's fsrcnn_s_x4 at commit 9a64aa9): from
# scratch (500k iterations, validation 27.218), a second cycle (250k, 27.226), then distilled from
# x4_scratch's 8-view mean (250k, 27.230; per split 28.592 / 25.556 / 26.967).
fsrcnn_s_x4() {
  expanded_cycle fsrcnn_s_x4_expand 4 3 x4_scratch --lr 5e-4 --iters 400000 --seed 470
  export_best fsrcnn_s_x4_expand fsrcnn_s_x4
}

# fsrcnn-s x2: fsrcnn_s_expanded alone (seed 390, ~79 min beside another run): validation 32.497 (at 350k),
# per split 34.299 / 31.444 / 31.859, within 3 LR pixels of the edge 34.601 / 33.177 / 33.577.
# The network it replaces was a chain of plain cycles, 1.43M iterations in all (from scratch 450k, two more
# cycles, distillation from fsrcnn x2 and from its 8-view mean, an edge cycle, a distillation cycle with
# edges; checkpoints in git history before e4834b8, training/checkpoints/fsrcnn_s_x2_long.pt to fsrcnn_s_x2_edge_kde.pt;
# this script at commit 5894078 has the commands): validation 32.387, per split 34.191 / 31.340 / 31.747,
# at the edge 34.453 / 33.011 / 33.484.
fsrcnn_s_x2() {
  fsrcnn_s_expanded 2 4 x2_edge 390
  export_best fsrcnn_s_x2_expand fsrcnn_s_x2
}

MODELS=(fsrcnn_x3 fsrcnn_x2 fsrcnn_x4 fsrcnn_multi fsrcnn_s_x3 fsrcnn_s_x2 fsrcnn_s_x4)
for model in "${@:-${MODELS[@]}}"; do
  EXTRA="x2_edge x3_edge x4_scratch"
  [[ " ${MODELS[*]} $EXTRA " == *" $model "* ]] ||
    { echo "unknown model '$model'; one of: ${MODELS[*]} (or ${EXTRA// /, })" >&2; exit 2; }
  "$model"
done
