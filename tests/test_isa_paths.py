"""The engine tests again under every ISA the machine supports, each forced the way a user would
force it (FSRCNN_FAST_ISA), in a fresh interpreter so that import-time dispatch is exercised."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fsrcnn_fast import _core

HERE = Path(__file__).parent


@pytest.mark.parametrize("isa", _core.supported_isas())
def test_engine_suite_under_forced_isa(isa):
    env = {**os.environ, "FSRCNN_FAST_ISA": isa}
    code = "from fsrcnn_fast import _core; import sys; sys.exit(0 if _core.isa() == sys.argv[1] else 3)"
    assert subprocess.run([sys.executable, "-c", code, isa], env=env).returncode == 0
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(HERE / "test_engine_vs_oracle.py"),
         "-k", "not large"],
        env=env, capture_output=True, text=True, cwd=HERE.parent,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_peak_memory_1080p():
    """A 1080p x3 frame (LR 640x360) through the network needs little beyond its input and output:
    no full-size 56-channel map (that alone would be 640*360*56*4 B = 52 MB)."""
    code = r"""
import resource, numpy as np, fsrcnn_fast, sys
sys.path.insert(0, sys.argv[1])
import netgen
spec = netgen.fsrcnn(np.random.default_rng(0), scale=3)
m = fsrcnn_fast.Model(spec)
y = np.random.default_rng(0).uniform(0, 1, (360, 640)).astype(np.float32)
out = np.empty((1080, 1920), np.float32); out.fill(0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
m.run_y(y, threads=2, out=out)     # first run: includes thread pools and every scratch buffer
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(grown)
"""
    r = subprocess.run([sys.executable, "-c", code, str(HERE)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    grown_mb = int(r.stdout.strip()) / 1024
    assert grown_mb <= 64, f"peak memory grew by {grown_mb:.1f} MB"
