"""Fuzzes the weights importers: damaged copies of real and generated weight files, each loaded (and run
on a tiny image) in a child process under a time and memory limit.

    python tools/fuzz_weights.py                       # 48 seeds x 220 = 10,560 damaged files, ~8 min
    python tools/fuzz_weights.py --per-seed 40 --seed 7 --keep /tmp/fuzz   # fewer, and keep the files

Seeds: the shipped ``.safetensors``; every weights file under ``$FSRCNN_DATA/weights`` (the authors' ``.mat``,
yjn870's ``.pth``, OpenCV's ``.pb``, Caffe's ``.caffemodel``); and files this library's own writers produce
(``.safetensors``, ``.onnx``, ``.pth``, ``.pt``) plus Keras files written here with h5py (``.keras`` archive,
``.h5`` model and weights-only). Every seed must load before it is damaged.

Damage (fixed by ``--seed``): truncations, byte and bit flips, huge integers (4 and 8 bytes, protobuf varints)
written over random places, deleted and repeated chunks; inside containers (the zip members of ``.pth`` /
``.keras``, the safetensors JSON header, ``config.json``) the same damage to one member or value, huge or
negative declared shapes, sizes and offsets, wrong dtypes, absurd ``deconv_offset`` / scale metadata.

Each file is classified:

* ``ok`` - loaded, and every network it gives ran;  ``refused`` - :class:`WeightsError`;
* ``unexpected`` - any other exception (the importers promise WeightsError, a ValueError, for any bad file);
* ``oom`` - MemoryError under the address-space limit (``--mem-mb`` above what the worker holds after import);
* ``crash`` - the worker died (a signal: heap corruption, segfault);  ``hang`` - no answer in ``--timeout`` s;
* ``slow`` - answered, but used more than ``--slow`` s of CPU (counted apart; the floor is 2 s).

Workers load many files each (a fresh interpreter per file would take hours); a worker that crashes, hangs or
runs out of memory is replaced and the culprit recorded. Exit status 1 when anything but ok/refused happened.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import selectors
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FSRCNN_DATA", ROOT.parent / "shared" / "data"))

CLASSES = ("ok", "refused", "unexpected", "oom", "crash", "hang", "slow")
BAD = ("unexpected", "oom", "crash", "hang")

# Options a format needs to load at all (files that cannot tell them): Caffe's deconvolution offset.
LOAD_OPTIONS = {".caffemodel": {"offset": 2}}
# ... and files whose name does not say their scale (chxy95's weights.mat is x3)
NAME_OPTIONS = {"weights.mat": {"scale": 3}}


def load_options(path: Path) -> dict[str, object]:
    name = path.name.split("-", 1)[1] if re.match(r"m\d{7}-", path.name) else path.name
    return {**LOAD_OPTIONS.get(path.suffix.lower(), {}), **NAME_OPTIONS.get(name, {})}


# --------------------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------------------


def _small_fsrcnn(rng, scale: int, tail: str = "deconv", border: str = "zero", offset: int = 4):
    import numpy as np

    from fsrcnn_fast.weights.schema import Conv, Deconv, NetworkSpec, Subpixel

    d, s, m = 8, 4, 1
    shapes = [("feature", 1, d, 5), ("shrink", d, s, 1)] + [(f"map.{i}", s, s, 3) for i in range(m)] + [
        ("expand", s, d, 1)]
    layers = tuple(
        Conv(n, rng.normal(0, 0.3, (co, ci, k, k)), rng.normal(0, 0.1, co), "prelu", rng.uniform(0.1, 0.3, co), border)
        for n, ci, co, k in shapes)
    if tail == "deconv":
        t = Deconv("deconv", rng.normal(0, 0.1, (d, 1, 9, 9)), rng.normal(0, 0.1, 1), scale, offset, border)
    else:
        t = Subpixel("subpixel", rng.normal(0, 0.1, (scale * scale, d, 3, 3)), rng.normal(0, 0.1, 1), scale, border)
    return NetworkSpec("fsrcnn", layers, t, scale)


def _small_srcnn(rng, scale: int):
    from fsrcnn_fast.weights.schema import Conv, NetworkSpec

    layers = (Conv("conv1", rng.normal(0, 0.2, (8, 1, 9, 9)), rng.normal(0, 0.1, 8), "relu", None, "replicate"),
              Conv("conv2", rng.normal(0, 0.2, (4, 8, 1, 1)), rng.normal(0, 0.1, 4), "relu", None, "replicate"),
              Conv("conv3", rng.normal(0, 0.2, (1, 4, 5, 5)), rng.normal(0, 0.1, 1), "none", None, "replicate"))
    return NetworkSpec("srcnn", layers, None, scale, pre_upsample=True)


def _keras_layers(spec):
    """(Conv2D and PReLU entries, Conv2DTranspose entry) of a Keras config for an FSRCNN spec, and weights."""
    layers, weights = [], []
    for i, conv in enumerate(spec.layers):
        name = "conv2d" if i == 0 else f"conv2d_{i}"
        layers.append({"class_name": "Conv2D", "name": name, "config": {
            "name": name, "filters": conv.cout, "kernel_size": [conv.k, conv.k], "strides": [1, 1],
            "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
            "activation": "linear", "use_bias": True}})
        weights.append((name, [conv.weight.transpose(2, 3, 1, 0), conv.bias]))
        pname = "p_re_lu" if i == 0 else f"p_re_lu_{i}"
        layers.append({"class_name": "PReLU", "name": pname, "config": {"name": pname, "shared_axes": [1, 2]}})
        weights.append((pname, [conv.slope.reshape(1, 1, -1)]))
    k = spec.tail.weight.shape[2]
    layers.append({"class_name": "Conv2DTranspose", "name": "conv2d_transpose", "config": {
        "name": "conv2d_transpose", "filters": 1, "kernel_size": [k, k], "strides": [spec.scale] * 2,
        "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "linear",
        "use_bias": True}})
    weights.append(("conv2d_transpose", [spec.tail.weight.transpose(2, 3, 1, 0), spec.tail.bias]))
    return layers, weights


def _write_keras_archive(spec, path: Path) -> None:
    """A Keras 3 ``.keras`` zip: a Sequential config.json and model.weights.h5 (layers/<name>/vars/<i>)."""
    import h5py

    layers, weights = _keras_layers(spec)
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "name": "input_layer", "config": {"batch_shape": [None, None, None, 1]}},
        *layers]}}
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        group = f.create_group("layers")
        for name, values in weights:
            v = group.create_group(f"{name}/vars")
            for i, value in enumerate(values):
                v.create_dataset(str(i), data=value)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", buf.getvalue())


def _write_keras_h5(spec, path: Path, with_model: bool) -> None:
    """tf.keras 2's HDF5: the whole model (model_config + model_weights) or save_weights' layout."""
    import h5py
    import numpy as np

    layers, weights = _keras_layers(spec)
    with h5py.File(path, "w") as f:
        group = f
        if with_model:
            prev = "input_1"
            chain = [{"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
                      "config": {"name": "input_1", "batch_input_shape": [None, None, None, 1]}}]
            for entry in layers:
                chain.append({**entry, "inbound_nodes": [[[prev, 0, 0, {}]]]})
                prev = entry["name"]
            config = {"class_name": "Functional", "config": {"name": "model", "layers": chain,
                                                             "input_layers": [["input_1", 0, 0]],
                                                             "output_layers": [[prev, 0, 0]]}}
            f.attrs["keras_version"] = b"2.13.1"
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = json.dumps(config).encode()
            group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.array([n.encode() for n, _ in weights])
        group.attrs["backend"] = b"tensorflow"
        group.attrs["keras_version"] = b"2.13.1"
        for name, values in weights:
            g = group.create_group(name)
            roles = ["alpha"] if name.startswith("p_re_lu") else ["kernel", "bias"]
            wnames = [f"{name}/{r}:0" for r in roles]
            g.attrs["weight_names"] = np.array([n.encode() for n in wnames])
            for wname, value in zip(wnames, values):
                g.create_dataset(wname, data=value)


def make_seeds(out: Path) -> list[Path]:
    """Real files (shipped, $FSRCNN_DATA) and files written by this library's writers, all loadable."""
    import numpy as np

    from fsrcnn_fast.weights.formats import save_weights

    seeds: list[Path] = sorted((ROOT / "python" / "fsrcnn_fast" / "data").glob("*.safetensors"))
    real = DATA / "weights"
    if real.is_dir():
        for suffix in (".mat", ".pth", ".pt", ".pb", ".caffemodel", ".onnx", ".h5", ".keras", ".safetensors"):
            seeds += sorted(real.rglob(f"*{suffix}"))
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    written = {
        "gen_fsrcnn_x2.safetensors": [_small_fsrcnn(rng, 2), _small_fsrcnn(rng, 4, offset=3)],
        "gen_subpixel_x3.safetensors": _small_fsrcnn(rng, 3, tail="subpixel", border="replicate"),
        "gen_srcnn_x3.safetensors": _small_srcnn(rng, 3),
        "gen_fsrcnn_x3.onnx": _small_fsrcnn(rng, 3),
        "gen_subpixel_x2.onnx": _small_fsrcnn(rng, 2, tail="subpixel"),
        "gen_fsrcnn_x4.pth": _small_fsrcnn(rng, 4),
        "gen_fsrcnn_x2.pt": _small_fsrcnn(rng, 2),
    }
    for name, specs in written.items():
        save_weights(specs, out / name)
        seeds.append(out / name)
    try:
        import h5py  # noqa: F401
    except ImportError:
        print("h5py missing: no Keras seeds", file=sys.stderr)
    else:
        _write_keras_archive(_small_fsrcnn(rng, 3, offset=3), out / "gen_fsrcnn_x3.keras")
        _write_keras_h5(_small_fsrcnn(rng, 2, offset=3), out / "gen_fsrcnn_x2.h5", with_model=True)
        _write_keras_h5(_small_fsrcnn(rng, 4, offset=2), out / "gen_weights_x4.h5", with_model=False)
        seeds += [out / "gen_fsrcnn_x3.keras", out / "gen_fsrcnn_x2.h5", out / "gen_weights_x4.h5"]
    return seeds


# --------------------------------------------------------------------------------------------------
# Damage
# --------------------------------------------------------------------------------------------------

HUGE_INTS = (0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 1 << 40, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 1 << 62)
HUGE_NUMBERS = ("4294967295", "2147483648", "1099511627776", "-1", "0", "-2147483648", "1e300", "65536",
                "100000", "9223372036854775807", "3.5", "-32", "33", "99", "null", "\"7\"", "[]", "{}")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def damage_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One random corruption of raw bytes, and its description."""
    n = len(data)
    if n == 0:
        return b"\0", "empty->zero byte"
    kind = rng.choice(("truncate", "truncate", "flip", "flip", "bit", "huge", "huge", "varint", "delete",
                       "repeat", "zero", "ff"))
    buf = bytearray(data)
    if kind == "truncate":
        cut = rng.randrange(n)
        return bytes(buf[:cut]), f"truncate to {cut} of {n}"
    if kind == "flip":
        count = rng.randint(1, 16)
        for _ in range(count):
            buf[rng.randrange(n)] = rng.randrange(256)
        return bytes(buf), f"flip {count} bytes"
    if kind == "bit":
        pos = rng.randrange(n)
        buf[pos] ^= 1 << rng.randrange(8)
        return bytes(buf), f"bit flip at {pos}"
    if kind == "huge":
        value, width = rng.choice(HUGE_INTS), rng.choice((4, 8))
        packed = (value & ((1 << (8 * width)) - 1)).to_bytes(width, rng.choice(("little", "big")))
        pos = rng.randrange(max(1, n - width))
        buf[pos:pos + width] = packed
        return bytes(buf), f"{width}-byte {value:#x} at {pos}"
    if kind == "varint":
        pos = rng.randrange(n)
        value = rng.choice(HUGE_INTS)
        v = _varint(value)
        buf[pos:pos + len(v)] = v
        return bytes(buf), f"varint {value:#x} at {pos}"
    if kind in ("delete", "repeat", "zero", "ff"):
        start = rng.randrange(n)
        length = min(n - start, rng.choice((1, 4, 16, 64, 512, 4096)))
        if kind == "delete":
            del buf[start:start + length]
        elif kind == "repeat":
            buf[start:start] = buf[start:start + length] * rng.choice((1, 2, 50))
        else:
            buf[start:start + length] = (b"\0" if kind == "zero" else b"\xff") * length
        return bytes(buf), f"{kind} {length} bytes at {start}"
    raise AssertionError(kind)


def damage_json_numbers(text: str, rng: random.Random) -> tuple[str, str]:
    """Replaces one to three numbers in a JSON text with huge, negative or ill-typed values."""
    numbers = list(re.finditer(r"-?\d+(\.\d+)?", text))
    if not numbers:
        return text + "x", "json: no numbers, appended garbage"
    parts = []
    for m in sorted(rng.sample(numbers, min(len(numbers), rng.randint(1, 3))), key=lambda m: -m.start()):
        value = rng.choice(HUGE_NUMBERS)
        text = text[:m.start()] + value + text[m.end():]
        parts.append(f"{m.group()}->{value}")
    return text, "json numbers " + ", ".join(parts)


def damage_safetensors(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Structured damage to a safetensors header: shapes, dtypes, offsets, metadata, header length."""
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen])
    body = data[8 + hlen:]
    names = [k for k in header if k != "__metadata__"]
    kind = rng.choice(("shape", "dtype", "offsets", "metadata", "hlen", "numbers", "drop"))
    what = kind
    if kind == "shape" and names:
        name = rng.choice(names)
        shape = list(header[name]["shape"])
        choice = rng.choice(("huge", "rank", "zero", "neg"))
        if choice == "huge":
            shape = [rng.choice((1 << 31, 1 << 40, 1 << 62, 65536))] * rng.randint(1, 4)
        elif choice == "rank":
            shape = shape + [1] * rng.randint(1, 6) if rng.random() < 0.5 else shape[:-1]
        elif choice == "zero":
            shape = [0] * max(1, len(shape))
        else:
            shape = [-1] + shape[1:]
        header[name]["shape"] = shape
        what = f"shape of {name} -> {shape}"
    elif kind == "dtype" and names:
        name = rng.choice(names)
        dtype = rng.choice(("I64", "I32", "BOOL", "U8", "F64", "F16", "BF16", "C64", "XYZ", "", "F8_E4M3"))
        header[name]["dtype"] = dtype
        what = f"dtype of {name} -> {dtype}"
    elif kind == "offsets" and names:
        name = rng.choice(names)
        start, end = header[name]["data_offsets"]
        new = rng.choice(([end, start], [0, 1 << 62], [start, start + (1 << 33)], [-8, end], [0, 0],
                          [start + 1, end + 1], [start, len(body) + 4]))
        header[name]["data_offsets"] = new
        what = f"offsets of {name} -> {new}"
    elif kind == "metadata":
        meta = header.setdefault("__metadata__", {})
        key = rng.choice(("deconv_offset", "scales", "network", "tail", "border", "format", "d", "color"))
        value = rng.choice(("-32", "32", "33", "-33", "100000000000000000000", "2:99", "x", "", "0", "1", "17",
                            "2,2", "3:-32", "srcnn", "subpixel", "deconv", "replicate", "2,3,4,5,6,7,8"))
        meta[key] = value
        what = f"metadata {key} -> {value!r}"
    elif kind == "hlen":
        value = rng.choice((0, 1, hlen - 1, hlen + 1, len(data), 1 << 32, 1 << 62, (1 << 64) - 1))
        return struct.pack("<Q", value) + data[8:], f"header length {hlen} -> {value}"
    elif kind == "drop" and names:
        name = rng.choice(names)
        del header[name]
        what = f"drop {name}"
    else:
        text, what = damage_json_numbers(json.dumps(header), rng)
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw + body, what
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body, what


def damage_zip(data: bytes, rng: random.Random, suffix: str) -> tuple[bytes, str]:
    """Damages one member of a zip (a .pth or .keras) and writes a valid zip around it."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    index = rng.randrange(len(members))
    info, payload = members[index]
    if info.filename.endswith(".json") and rng.random() < 0.7:
        text, what = damage_json_numbers(payload.decode("utf-8", "replace"), rng)
        payload = text.encode()
    else:
        payload, what = damage_bytes(payload, rng)
    members[index] = (info, payload)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for inf, content in members:
            zf.writestr(inf, content)
    return out.getvalue(), f"member {info.filename}: {what}"


def damage(data: bytes, suffix: str, rng: random.Random) -> tuple[bytes, str]:
    if suffix == ".safetensors" and rng.random() < 0.6:
        try:
            return damage_safetensors(data, rng)
        except (ValueError, struct.error):  # a seed whose header is not JSON: raw damage
            pass
    if suffix in (".pth", ".pt", ".keras") and zipfile.is_zipfile(io.BytesIO(data)) and rng.random() < 0.6:
        return damage_zip(data, rng, suffix)
    damaged, what = damage_bytes(data, rng)
    if rng.random() < 0.15:  # a second corruption on top
        damaged, more = damage_bytes(damaged, rng)
        what += "; " + more
    return damaged, what


# --------------------------------------------------------------------------------------------------
# Worker: loads files named on stdin, answers one JSON line each
# --------------------------------------------------------------------------------------------------


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def worker(mem_mb: int) -> None:
    import gc
    import resource
    import traceback

    import numpy as np

    from fsrcnn_fast import Model
    from fsrcnn_fast.weights.formats import load_weights
    from fsrcnn_fast.weights.safetensors_io import WeightsError

    for optional in ("scipy.io", "onnx", "h5py", "safetensors.numpy"):  # imported before the limit is set
        try:
            __import__(optional)
        except ImportError:
            pass
    y = np.random.default_rng(0).uniform(0, 1, (5, 7)).astype(np.float32)
    warm = Model.load("fsrcnn", scale=2)
    warm.run_y(y, threads=1)
    if mem_mb > 0:
        limit = _vm_bytes() + mem_mb * (1 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = sys.stdout
    for line in sys.stdin:
        path = line.rstrip("\n")
        opts = load_options(Path(path))
        cpu0 = time.process_time()
        result: dict[str, object]
        try:
            specs = load_weights(path, **opts)
            for spec in specs:
                Model(spec).run_y(y, threads=1)
            result = {"class": "ok"}
        except WeightsError as exc:
            result = {"class": "refused", "message": str(exc)[:300]}
        except MemoryError:
            result = {"class": "oom"}
        except Exception as exc:  # what the fuzzer hunts
            tb = traceback.extract_tb(exc.__traceback__)
            where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"
            result = {"class": "unexpected", "type": type(exc).__name__, "message": str(exc)[:300], "where": where}
        result["cpu"] = round(time.process_time() - cpu0, 3)
        specs = None
        gc.collect()
        out.write(json.dumps(result) + "\n")
        out.flush()


class _Worker:
    def __init__(self, mem_mb: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--mem-mb", str(mem_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        self.sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.done = 0

    def ask(self, path: Path, timeout: float) -> dict[str, object]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(f"{path}\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return self._died()
        if not self.sel.select(timeout):
            self.close()
            return {"class": "hang"}
        line = self.proc.stdout.readline()
        if not line:
            return self._died()
        self.done += 1
        return json.loads(line)

    def _died(self) -> dict[str, object]:
        code = self.proc.wait()
        self.sel.close()
        return {"class": "crash", "returncode": code}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.sel.close()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


def run(files: list[tuple[Path, str, str]], timeout: float, mem_mb: int, slow: float,
        restart_every: int = 300, log=None) -> tuple[Counter, list[dict[str, object]]]:
    """Loads every (file, seed name, damage) in workers; returns the counts and the findings."""
    counts: Counter = Counter()
    findings: list[dict[str, object]] = []
    w: _Worker | None = None
    for i, (path, seed, what) in enumerate(files):
        if w is None or not w.alive or w.done >= restart_every:
            if w is not None:
                w.close()
            w = _Worker(mem_mb)
        result = w.ask(path, timeout)
        cls = str(result["class"])
        if cls in ("crash", "hang", "oom"):
            w.close()
            w = None
        if cls in ("ok", "refused") and float(result.get("cpu", 0.0)) > slow:
            counts["slow"] += 1
            findings.append({"file": str(path), "seed": seed, "damage": what, **result, "class": "slow"})
        counts[cls] += 1
        if cls in BAD:
            findings.append({"file": str(path), "seed": seed, "damage": what, **result})
        if log and (i + 1) % 500 == 0:
            print(f"  {i + 1}/{len(files)} {dict(counts)}", file=log, flush=True)
    if w is not None:
        w.close()
    return counts, findings


def generate(seeds: list[Path], per_seed: int, seed: int, out: Path) -> list[tuple[Path, str, str]]:
    """per_seed damaged copies of every seed, written under out (names keep the seed's name: a scale in it
    stays readable)."""
    rng = random.Random(seed)
    files = []
    for si, src in enumerate(seeds):
        data = src.read_bytes()
        for j in range(per_seed):
            damaged, what = damage(data, src.suffix.lower(), rng)
            dst = out / f"m{si:02d}{j:05d}-{src.name}"
            dst.write_bytes(damaged)
            files.append((dst, src.name, what))
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-seed", type=int, default=220, help="damaged copies of each seed (default 220)")
    ap.add_argument("--seed", type=int, default=0, help="random seed of the damage (default 0)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds without an answer that count as a hang")
    ap.add_argument("--slow", type=float, default=2.0, help="CPU seconds beyond which a load counts as slow")
    ap.add_argument("--mem-mb", type=int, default=512, help="address space a worker may add (MB, default 512)")
    ap.add_argument("--keep", type=Path, default=None, help="directory to keep the damaged files in")
    ap.add_argument("--formats", default=None, help="only seeds with these suffixes, e.g. .pth,.onnx")
    ap.add_argument("--json", type=Path, default=None, help="write counts and findings here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.mem_mb)
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="fuzz_weights_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        seeds = make_seeds(work / "seeds")
        if args.formats:
            keep = {s.strip().lower() for s in args.formats.split(",")}
            seeds = [s for s in seeds if s.suffix.lower() in keep]
        seed_counts, seed_findings = run([(s, s.name, "seed (undamaged)") for s in seeds], args.timeout,
                                         args.mem_mb, 1e9)
        print(f"seeds as they are: {dict(seed_counts)}")  # real files the importers refuse are seeds too
        files = generate(seeds, args.per_seed, args.seed, work)
        by_format = Counter(p.suffix.lower() for p, _, _ in files)
        print(f"{len(seeds)} seeds, {len(files)} damaged files: {dict(sorted(by_format.items()))}", flush=True)
        t0 = time.perf_counter()
        counts, findings = run(files, args.timeout, args.mem_mb, args.slow, log=sys.stdout)
        counts.update({c: seed_counts[c] for c in BAD})
        findings = seed_findings + findings
        print(f"{len(files)} files in {time.perf_counter() - t0:.0f} s: "
              + ", ".join(f"{c} {counts[c]}" for c in CLASSES))
        for f in findings[:60]:
            print(json.dumps(f))
        if args.json:
            args.json.write_text(json.dumps({"counts": counts, "findings": findings}, indent=1))
        return 1 if any(counts[c] for c in BAD) else 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
