"""Files under the shared data that a test needs, or a skip that names the missing one."""

from pathlib import Path

import pytest


def require_file(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path
