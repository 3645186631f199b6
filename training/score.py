"""Score checkpoints (or any weight files) on the held-out split of each training set, per set.

The trainer's validation PSNR is one mean over every held-out image; this splits it by set and uses the
library's MATLAB protocol (the one the README table uses), so runs trained on different sets can be
compared on images none of them trained on, and against other releases:

    python training/score.py training/checkpoints/x3_stage10.pt training/runs/fsrcnn_x3_s11b/best.pt \\
        ../shared/data/weights/official_fsrcnn_via_yaBorn/model/FSRCNN/x3.mat --scale 3

--eight-views scores each network's mean over the 8 rotations and flips of the input instead, the
target train_fsrcnn.py --teacher-ensemble distils from. --border N adds, per set, the PSNR of the ring of HR
pixels within N LR pixels of the image edge (inside the protocol's shave), where train_fsrcnn.py
--edge-prob trains. --per-image prints each held-out image's PSNR too (a split of five images moves with one).

The held-out images are train_fsrcnn.py's: every --val-nth image (sorted by file name) of each set.
Never a test set: Set5 and Set14 are refused.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

# The installed package (with its engine) first: export.py puts the source tree, which has no engine, on
# sys.path for its own pure-Python needs.
from fsrcnn_fast import Model, metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export import export  # noqa: E402
from train_fsrcnn import data_root  # noqa: E402

TEST_SETS = {"Set5", "Set14"}


def held_out(name: str, nth: int) -> list[tuple[str, np.ndarray]]:
    images = metrics.read_image_set(data_root() / name)  # sorted by path, as the trainer's glob
    return [im for i, im in enumerate(images) if i % nth == 0]


def load(path: str, scale: int, tmp: Path) -> Model:
    if path.endswith(".pt"):  # a trainer checkpoint: through the exporter, as shipped weights are made
        out = tmp / (Path(path).parent.name + "_" + Path(path).stem + ".safetensors")
        export([path], out)
        path = str(out)
    return Model.load(path, scale=scale)


def eight_view_mean(run, lr: np.ndarray) -> np.ndarray:
    """run's output averaged over the 8 rotations and flips of lr, each undone: train_fsrcnn.py's
    --teacher-ensemble target, scored here with the engine."""
    acc = 0.0
    for k in range(4):
        for flip in (False, True):
            view = np.rot90(lr, k)[:, ::-1] if flip else np.rot90(lr, k)
            out = run(np.ascontiguousarray(view))
            acc = acc + np.rot90(out[:, ::-1] if flip else out, -k)
    return acc / 8


def set_scores(images, scale: int, run, border: int = 0, per_image: list | None = None) -> tuple[float, float | None]:
    """Mean PSNR over images (MATLAB protocol) of the whole image and, with border, of the ring of HR
    pixels within `border` LR pixels of the edge, after the protocol's shave; each image is
    super-resolved once for both. per_image, when given, receives (name, PSNR) per image."""
    whole, ring = [], []
    for name, image in images:
        hr, lr = metrics.protocol_pair(image, scale)
        out = metrics.shave(metrics.to_uint8(run(lr)), scale)
        ref = metrics.shave(hr, scale)
        whole.append(metrics.psnr(out, ref))
        if per_image is not None:
            per_image.append((name, whole[-1]))
        if border:
            edge = np.ones(ref.shape, bool)
            cut = border * scale
            edge[cut:-cut, cut:-cut] = False
            ring.append(metrics.psnr(out[edge], ref[edge]))
    return float(np.mean(whole)), (float(np.mean(ring)) if border else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+", help="train_fsrcnn.py checkpoints (.pt) or any weights file")
    ap.add_argument("--scale", type=int, default=3)
    ap.add_argument("--sets", default="T91,General-100,BSD200-train")
    ap.add_argument("--val-nth", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eight-views", action="store_true",
                    help="score each network's mean over the 8 rotations/flips of the input (a distillation teacher)")
    ap.add_argument("--border", type=int, default=0, metavar="N",
                    help="also score the ring of HR pixels within N LR pixels of the image edge")
    ap.add_argument("--per-image", action="store_true", help="also a table of each held-out image's PSNR")
    args = ap.parse_args()
    sets = args.sets.split(",")
    if TEST_SETS & set(sets):
        raise SystemExit(f"{sorted(TEST_SETS & set(sets))}: test sets are not for choosing checkpoints")
    images = {name: held_out(name, args.val_nth) for name in sets}
    columns = [f"{n} ({len(images[n])})" for n in sets]
    if args.border:
        columns += [f"{n} border {args.border}" for n in sets]
    print("| weights | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    per_image: list[list] = []  # one list per weights argument, in order: a file may be given twice
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.weights:
            model = load(path, args.scale, Path(tmp))
            def run(lr, model=model):
                return model.run_y(lr, threads=args.threads)

            sr = (lambda lr: eight_view_mean(run, lr)) if args.eight_views else run
            file_scores = [] if args.per_image else None
            scores = [set_scores(images[n], args.scale, sr, args.border, file_scores) for n in sets]
            per_image.append(file_scores)
            row = [f"{whole:.3f}" for whole, _ in scores]
            if args.border:
                row += [f"{ring:.3f}" for _, ring in scores]
            print(f"| {path} | " + " | ".join(row) + " |", flush=True)
    if args.per_image:
        names = [f"{n}/{Path(name).stem}" for n in sets for name, _ in images[n]]
        print("\n| image | " + " | ".join(args.weights) + " |")
        print("| --- |" + " --- |" * len(args.weights))
        for i, name in enumerate(names):
            print(f"| {name} | " + " | ".join(f"{image_scores[i][1]:.3f}" for image_scores in per_image) + " |")


if __name__ == "__main__":
    main()
