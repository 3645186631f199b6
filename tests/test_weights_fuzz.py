"""Damaged weight files of every format are loaded or refused with WeightsError: never a crash, a hang, running
out of memory or another exception. A fixed-seed sample of tools/fuzz_weights.py (each file in a worker process
under a time and address-space limit); the full run is ``python tools/fuzz_weights.py``."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest

from fsrcnn_fast.weights.errors import WeightsError

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("fuzz_weights", ROOT / "tools" / "fuzz_weights.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_weights"] = module
    spec.loader.exec_module(module)
    return module


fuzz = _tool()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return fuzz.make_seeds(tmp_path_factory.mktemp("seeds"))


def test_seeds_cover_every_format(seeds):
    from fsrcnn_fast.weights.formats import IMPORTERS

    have = {p.suffix.lower() for p in seeds}
    needs_data = {".mat", ".pb", ".caffemodel"}  # only real files: read from $FSRCNN_DATA
    pytest.importorskip("h5py")
    pytest.importorskip("onnx")
    missing = set(IMPORTERS) - have
    assert missing <= needs_data, missing
    if not (fuzz.DATA / "weights").is_dir():
        pytest.skip("no $FSRCNN_DATA/weights: .mat, .pb and .caffemodel seeds are absent")
    assert not missing


def test_damaged_files_are_loaded_or_refused(seeds, tmp_path):
    files = fuzz.generate(seeds, per_seed=4, seed=19, out=tmp_path)
    counts, findings = fuzz.run(files, timeout=30.0, mem_mb=512, slow=1e9)
    assert sum(counts.values()) == len(files)
    assert counts["refused"] > len(files) // 2  # the damage is real: most files are refused
    assert not findings, json.dumps(findings[:5], indent=1)


def test_the_worker_classifies(tmp_path):
    """The harness itself: a refused file, an unexpected exception and a crash are told apart."""
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 7)
    unknown = tmp_path / "x.unknown"
    unknown.write_bytes(b"")
    w = fuzz._Worker(mem_mb=512)
    try:
        assert w.ask(bad, 30.0)["class"] == "refused"
        assert w.ask(unknown, 30.0)["class"] == "refused"  # an unknown suffix is a WeightsError too
        assert w.ask(tmp_path / "missing.pth", 30.0)["class"] == "refused"
    finally:
        w.close()


def test_damage_is_deterministic(seeds):
    data = seeds[0].read_bytes()
    a = [fuzz.damage(data, seeds[0].suffix, random.Random(5)) for _ in range(3)]
    b = [fuzz.damage(data, seeds[0].suffix, random.Random(5)) for _ in range(3)]
    assert a == b and all(d != data for d, _ in a)


def test_weights_error_is_a_value_error():
    assert issubclass(WeightsError, ValueError)


def _patch_zip_sizes(data: bytes, member: str, size: int) -> bytes:
    """The zip with ``member``'s declared uncompressed size set to ``size`` (local and central headers)."""
    import struct

    buf = bytearray(data)
    name = member.encode()
    for sig, field in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (pos := buf.find(sig, start)) >= 0:
            name_at = pos + (30 if sig == b"PK\x03\x04" else 46)
            if buf[name_at:name_at + len(name)] == name:
                struct.pack_into("<I", buf, pos + field, size)
            start = pos + 4
    return bytes(buf)


def test_declared_sizes_are_checked_before_allocating(seeds, tmp_path):
    """Issue 19's memory cases, each loaded in a worker limited to 512 MB more than it holds: a .keras whose
    config.json claims 3 GB, a safetensors tensor of 2^40 elements, an ONNX initializer of 2^40 elements, a
    MAT array of 2^31 elements; all refused with WeightsError."""
    import struct

    from fsrcnn_fast.weights import limits

    by_name = {p.name: p for p in seeds}
    cases = []
    if "gen_fsrcnn_x3.keras" in by_name:
        bomb = tmp_path / "config_3gb.keras"
        bomb.write_bytes(_patch_zip_sizes(by_name["gen_fsrcnn_x3.keras"].read_bytes(), "config.json", 3 << 30))
        cases.append(bomb)
    data = by_name["gen_fsrcnn_x2.safetensors"].read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    key = next(k for k in header if k.endswith("feature.weight"))
    header[key]["shape"] = [1 << 10, 1 << 10, 1 << 10, 1 << 10]
    raw = json.dumps(header).encode()
    huge = tmp_path / "huge_x2.safetensors"
    huge.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])
    cases.append(huge)
    if "gen_fsrcnn_x3.onnx" in by_name:
        onnx = pytest.importorskip("onnx")
        model = onnx.load(str(by_name["gen_fsrcnn_x3.onnx"]))
        init = model.graph.initializer[0]
        init.ClearField("raw_data")
        del init.dims[:]
        init.dims.extend([1 << 20, 1 << 20])
        path = tmp_path / "huge.onnx"
        path.write_bytes(model.SerializeToString())
        cases.append(path)
    mat = next((p for p in seeds if p.suffix == ".mat"), None)
    if mat is not None:
        from fsrcnn_fast.weights.matlab import check_mat5

        with pytest.raises(WeightsError, match="elements"):  # a 2^31 x 1 array in 64 bytes
            body = struct.pack("<IIII", 6, 8, 6, 0) + struct.pack("<IIii", 5, 8, 1 << 31 - 1, 1) + b"\0" * 32
            check_mat5(b"\0" * 126 + b"IM" + struct.pack("<II", 14, len(body)) + body, "m")
    w = fuzz._Worker(mem_mb=512)
    try:
        for path in cases:
            result = w.ask(path, 30.0)
            assert result["class"] == "refused", (path.name, result)
    finally:
        w.close()
    assert limits.MAX_MEMBER_BYTES < 3 << 30
