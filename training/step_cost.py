"""Cost of a training step: the multi-scale network's (train_fsrcnn.py --scales) against the per-scale
networks' it replaces, factored (--expand) or plain, and a per-scale factored step against a plain one
(issue 22's limit: 1.3x), for fsrcnn (56,12,4) and fsrcnn-s (32,5,1), measured in one process.

Every configuration trains on the same patches' kind (the recipe's: 16 LR patches of 24x24 per scale, loss
margin 4, edge patches 15 % of the time) through train_fsrcnn.train_step, the trainer's own step, in
blocks of --block steps taken in turn (x2, x3, x4, x3 factored, joint factored, joint plain, fsrcnn-s x3 plain
and factored, ...), so that a machine
whose load drifts slows every configuration alike; each reports its median block, per step.

    python training/step_cost.py --threads 1 --blocks 40

Needs PyTorch and the training images (T91 by default: the step's cost does not depend on the set).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_fsrcnn as tf  # noqa: E402

OFFSETS = {2: 4, 3: 3, 4: 3}  # the shipped files'


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="T91")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--blocks", type=int, default=40, help="blocks per configuration")
    ap.add_argument("--block", type=int, default=10, help="steps per block")
    ap.add_argument("--expand", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr-patch", type=int, default=24)
    args = ap.parse_args()

    import torch

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    train, _ = tf.load_y_images(tuple(args.sets.split(",")), val_nth=10**9)
    samplers = {s: tf.PatchSampler({n: tf.build_pairs(p, s) for n, p in train.items()}, s, args.lr_patch, seed=s,
                                   edge_prob=0.15, loss_margin=4) for s in OFFSETS}

    def single(scale, expand=0, dsm=(56, 12, 4)):
        return tf.make_model(torch, scale, *dsm, OFFSETS[scale], expand), (scale,)

    def joint(expand=0):
        return tf.make_multi_model(torch, list(OFFSETS), 56, 12, 4, list(OFFSETS.values()), expand), tuple(OFFSETS)

    configs = {"x2 plain": single(2), "x3 plain": single(3), "x4 plain": single(4),
               f"x3 --expand {args.expand}": single(3, args.expand),
               f"joint --expand {args.expand}": joint(args.expand), "joint plain": joint(),
               "s x3 plain": single(3, dsm=(32, 5, 1)), f"s x3 --expand {args.expand}": single(3, args.expand, (32, 5, 1))}
    runs = {}
    for name, (model, scales) in configs.items():
        model = model.to(memory_format=torch.channels_last)
        runs[name] = (model, scales, torch.optim.Adam(model.parameters(), lr=1e-4), {})

    def block(name, steps):
        model, scales, opt, running = runs[name]
        t = time.perf_counter()
        for _ in range(steps):
            batches = {s: samplers[s].batch(args.batch) for s in scales}
            tf.train_step(torch, model, opt, batches, loss_margin=4, running=running)
        return (time.perf_counter() - t) / steps

    for name in runs:  # warm-up: oneDNN's kernel choice, allocator
        block(name, args.block)
    times = {name: [] for name in runs}
    for _ in range(args.blocks):
        for name in runs:
            times[name].append(block(name, args.block))
    ms = {name: 1000 * float(np.median(t)) for name, t in times.items()}
    for name, t in ms.items():
        print(f"{name:24s} {t:7.2f} ms per step (median of {args.blocks} blocks of {args.block})")
    three = ms["x2 plain"] + ms["x3 plain"] + ms["x4 plain"]
    factored = ms[f"joint --expand {args.expand}"]
    print(f"three plain per-scale steps  {three:7.2f} ms")
    print(f"joint factored / three plain per-scale steps: {factored / three:.3f}")
    print(f"joint factored / joint plain: {factored / ms['joint plain']:.3f}")
    print(f"joint plain / three plain per-scale steps: {ms['joint plain'] / three:.3f}")
    print(f"x3 factored / x3 plain (the per-scale recipe's step): {ms[f'x3 --expand {args.expand}'] / ms['x3 plain']:.3f}")
    print(f"fsrcnn-s x3 factored / plain: {ms[f's x3 --expand {args.expand}'] / ms['s x3 plain']:.3f}")


if __name__ == "__main__":
    main()
