import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def fma_peak_gmacs():
    """Single-core FMA peak of this machine in GMAC/s (one FMA = one multiply-add)."""
    from fsrcnn_fast import _core

    return _core.fma_peak_gflops(0.3) / 2.0


def all_threads() -> int:
    from fsrcnn_fast.engine import default_threads

    return default_threads()
