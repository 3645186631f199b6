"""Export a checkpoint of train_fsrcnn.py to the package's safetensors format.

    python training/export.py training/runs/fsrcnn_x3/best.pt python/fsrcnn_fast/data/fsrcnn_x3.safetensors
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("output")
    args = ap.parse_args()
    import torch

    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    config = json.loads(Path(args.checkpoint).with_name("config.json").read_text())
    tensors = {file_name(k): v.numpy() for k, v in ckpt["model"].items()}
    command = "python training/train_fsrcnn.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in config.items() if v not in ("", None)
    )
    meta = {
        "network": "fsrcnn", "scales": str(config["scale"]), "border": "replicate", "tail": "deconv",
        "deconv_offset": str(config.get("deconv_offset", 4)), "d": str(config["d"]), "s": str(config["s"]), "m": str(config["m"]),
        "name": f"fsrcnn_x{config['scale']}",
        "source": "fsrcnn_fast training/train_fsrcnn.py on T91 + General-100 + BSD200-train",
        "training": f"{command} ; checkpoint iter {ckpt['iter']}, validation PSNR {ckpt['val_psnr']:.3f} dB",
    }
    safetensors_io.save(args.output, meta, tensors)
    Path(args.output).chmod(0o644)
    print(f"wrote {args.output}: {meta['training']}")


if __name__ == "__main__":
    main()
