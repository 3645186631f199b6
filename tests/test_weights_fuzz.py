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
