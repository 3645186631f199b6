import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("FSRCNN_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = data_dir()
    if not (d / "Set5").is_dir():
        pytest.skip(f"shared data not found at {d} (set FSRCNN_DATA)")
    return d


@pytest.fixture(scope="session")
def gray_crop(shared_data):
    """A small real-image patch (uint8 gray, 24x31: odd on one side), small to keep importer tests quick."""
    import numpy as np
    from PIL import Image

    with Image.open(shared_data / "Set5" / "butterfly.png") as im:
        return np.asarray(im.convert("L"))[100:124, 50:81].copy()
