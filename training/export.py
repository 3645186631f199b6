"""Export a checkpoint of train_fsrcnn.py to the package's safetensors format.

    python training/export.py training/runs/fsrcnn_x3/best.pt python/fsrcnn_fast/data/fsrcnn_x3.safetensors

A multi-scale model: one checkpoint of a train_fsrcnn.py --scales run (its layers already named as in the
file, x2.deconv.* ... beside the shared ones), or one checkpoint per scale whose other layers are equal
(--freeze-shared runs from the same network, the first one's scale first).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from fsrcnn_fast.weights import safetensors_io  # noqa: E402

# train_fsrcnn.py module names -> file tensor names
_RENAMES = {"feature_act.weight": "feature.prelu", "shrink_act.weight": "shrink.prelu",
            "expand_act.weight": "expand.prelu"}


def file_name(key: str) -> str:
    if key in _RENAMES:
        return _RENAMES[key]
    if key.startswith("maps."):
        return "map." + key[len("maps."):]
    if key.startswith("map_acts."):
        return "map." + key.split(".")[1] + ".prelu"
    return key


def read_checkpoint(path: str):
    """(tensors in file names, config, training note) of one train_fsrcnn.py checkpoint."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    config_path = Path(path).with_suffix(".json")  # training/checkpoints/x3_stage5.pt + .json
    if not config_path.exists():
        config_path = Path(path).with_name("config.json")  # a run directory
    config = json.loads(config_path.read_text())
    tensors = {file_name(k): v.numpy() for k, v in ckpt["model"].items()}
    command = "python training/train_fsrcnn.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in config.items() if v not in ("", None, False)
    ).replace(" True", "")
    note = f"{command} ; checkpoint iter {ckpt['iter']}, validation PSNR {ckpt['val_psnr']:.3f} dB"
    if "val_psnr_by_scale" in ckpt:  # a multi-scale run: its validation PSNR is the mean of its scales'
        note += " (mean of " + ", ".join(f"x{s} {v:.3f}" for s, v in ckpt["val_psnr_by_scale"].items()) + ")"
    return tensors, config, note


def checkpoint_scales(config: dict) -> dict[int, int]:
    """Scale -> deconvolution offset of a checkpoint's network: a multi-scale run's (train_fsrcnn.py
    --scales, --deconv-offsets) or a single-scale run's (--scale, --deconv-offset, default 4)."""
    if "scales" in config:
        scales = [int(s) for s in str(config["scales"]).split(",")]
        return dict(zip(scales, (int(o) for o in str(config["deconv_offsets"]).split(","))))
    return {config["scale"]: config.get("deconv_offset", 4)}


def export(checkpoints: list[str], output: str | Path) -> dict[str, str]:
    """Writes one checkpoint (single- or multi-scale), or one per scale of a multi-scale model whose
    checkpoints share every layer but the deconvolution, as a weights file; returns its metadata."""
    runs = [read_checkpoint(c) for c in checkpoints]
    configs = [c for _, c, _ in runs]
    joint = any("scales" in c for c in configs)  # a train_fsrcnn.py --scales run: already the file's layout
    if joint and len(runs) > 1:
        raise SystemExit("a multi-scale checkpoint (train_fsrcnn.py --scales) exports alone")
    offsets = {s: o for c in configs for s, o in checkpoint_scales(c).items()}
    scales = list(offsets)
    if len(runs) > 1 and len(scales) != len(runs):
        raise SystemExit(f"two checkpoints at the same scale: {[c['scale'] for c in configs]}")
    tensors: dict = {}
    if len(runs) == 1:
        tensors = runs[0][0]
    else:  # a multi-scale model: every layer but the deconvolution must be the same at every scale
        for name, value in runs[0][0].items():
            if name.startswith("deconv."):
                continue
            for (other, _, _), s in zip(runs[1:], scales[1:]):
                if not (other[name] == value).all():
                    raise SystemExit(f"x{s}: {name} differs from x{scales[0]}'s; train with --freeze-shared")
            tensors[name] = value
        for (t, _, _), s in zip(runs, scales):
            tensors |= {f"x{s}.{k}": v for k, v in t.items() if k.startswith("deconv.")}
    offsets = [str(offsets[s]) for s in scales]
    first = configs[0]
    multi = len(scales) > 1
    meta = {
        "network": "fsrcnn", "scales": ",".join(str(s) for s in scales), "border": "replicate", "tail": "deconv",
        "deconv_offset": offsets[0] if len(set(offsets)) == 1 else ",".join(f"{s}:{o}" for s, o in zip(scales, offsets)),
        "d": str(first["d"]), "s": str(first["s"]), "m": str(first["m"]),
        "name": ("fsrcnn_s" if (first["d"], first["s"], first["m"]) == (32, 5, 1) else "fsrcnn")
        + ("_multi" if multi else f"_x{scales[0]}"),
        "source": "fsrcnn_fast training/train_fsrcnn.py on " + first.get("sets", "T91,General-100,BSD200-train"),
        "license": "MIT",  # the package's LICENSE: weights trained here ship under it
        "training": " | ".join(f"x{s}: {note}" if len(runs) > 1 else note for (_, _, note), s in zip(runs, scales)),
    }
    safetensors_io.save(output, meta, tensors)
    Path(output).chmod(0o644)
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", help="one checkpoint, or one per scale of a multi-scale model")
    ap.add_argument("output")
    args = ap.parse_args()
    meta = export(args.checkpoints, args.output)
    print(f"wrote {args.output}: {meta['training']}")


if __name__ == "__main__":
    main()
