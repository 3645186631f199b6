"""Packaging: what the sdist holds and leaves out, the version in one place, the metadata and licence, the
shipped weights' licence, and that the pinned test peers have the API the comparison tests use (so those
tests run, not skip, in the README's environment)."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import re
import shutil
import subprocess
import sys
import tarfile
import types
from importlib import resources
from pathlib import Path

import pytest
from safetensors import safe_open

import fsrcnn_fast
from peer_api import PEER_APIS, installed_version, missing_attribute, pinned_version, require

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("module_name", sorted(PEER_APIS))
def test_pinned_peer_has_the_api_the_tests_use(module_name):
    distribution, attributes = PEER_APIS[module_name]
    pin, installed = pinned_version(distribution), installed_version(distribution)
    assert pin, f"the test extra should pin {distribution} exactly (a comparison test runs against it)"
    if installed != pin:
        pytest.skip(f"{distribution} {installed or 'not installed'}, the test extra pins {pin}")
    module = importlib.import_module(module_name)
    gaps = [a for a in attributes if missing_attribute(module, a) is not None]
    assert not gaps, f"{distribution}=={pin} (the pin) lacks {gaps}: its comparison tests would all skip"


def test_missing_api_is_a_skip_naming_it(monkeypatch):
    """A peer lacking an API: the test skips, naming the attribute, the installed version and the pin."""
    fake = types.ModuleType("cv2")
    fake.dnn = types.SimpleNamespace(readNetFromONNX=object())
    monkeypatch.setitem(sys.modules, "cv2", fake)
    assert require("cv2", "dnn.readNetFromONNX") is fake
    with pytest.raises(pytest.skip.Exception, match=r"has no cv2\.dnn\.readNetFromTensorflow"):
        require("cv2", "dnn.readNetFromONNX", "dnn.readNetFromTensorflow")


def test_version_is_the_metadata_version():
    """__version__ is written once (python/fsrcnn_fast/__init__.py); the build reads it from there."""
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", fsrcnn_fast.__version__)
    assert md.version("fsrcnn_fast") == fsrcnn_fast.__version__


def test_metadata_states_licence_pythons_and_urls():
    meta = md.metadata("fsrcnn_fast")
    assert meta["License"] == "MIT"
    classifiers = meta.get_all("Classifier")
    assert "License :: OSI Approved :: MIT License" in classifiers
    pythons = [c.rsplit(" ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert pythons == ["3.10", "3.11", "3.12", "3.13"]
    assert meta["Requires-Python"] == ">=3.10"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert urls and all(u.startswith("https://") for u in urls.values())


def test_installed_package_carries_the_mit_licence():
    """The LICENSE text travels with the installed package (in its .dist-info) and says MIT."""
    files = [f for f in md.files("fsrcnn_fast") or [] if f.name == "LICENSE"]
    assert files, "LICENSE is not in the installed distribution"
    assert files[0].read_text().startswith("MIT License")


def test_shipped_weights_state_their_licence():
    """Every weights file the package ships says its licence (the package's: MIT) in its metadata."""
    data = resources.files("fsrcnn_fast") / "data"
    files = sorted(f for f in data.iterdir() if f.name.endswith(".safetensors"))
    assert len(files) >= len(fsrcnn_fast.available_models())
    for f in files:
        with safe_open(str(f), framework="numpy") as weights:
            assert weights.metadata().get("license") == "MIT", f.name


def _build_sdist(project: Path, out: Path) -> list[str]:
    """Builds project's sdist with scikit-build-core's PEP 517 hook; returns its paths without the top folder."""
    pytest.importorskip("scikit_build_core", reason="scikit-build-core (in the test extra) builds the sdist")
    code = "import sys; from scikit_build_core.build import build_sdist; print(build_sdist(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with tarfile.open(out / done.stdout.strip().splitlines()[-1]) as tar:
        return [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]


def test_sdist_leaves_out_runs_environments_and_build_output(tmp_path):
    """The project's exclusion rules (pyproject's sdist.exclude and .gitignore), on a copy of its packaging
    files with decoys of everything a working tree accumulates: none of the decoys is packed (without
    .gitignore, the .so, the egg-info and .pytest_cache would be)."""
    project = tmp_path / "project"
    for name in ("pyproject.toml", ".gitignore", "README.md", "LICENSE", "CMakeLists.txt",
                 "python/fsrcnn_fast/__init__.py"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, project / name)
    kept = ["python/fsrcnn_fast/data/fsrcnn_x3.safetensors", "training/checkpoints/x3_edge.pt", "tests/oracle.py",
            "tools/smoke_installed.py"]
    decoys = ["training/runs/fsrcnn_x3/best.pt", ".venv/lib/site.py", ".venv-ci/bin/python", "build/cp311/_core.o",
              "dist/fsrcnn_fast-0.1.0.tar.gz", "python/fsrcnn_fast/_core.cpython-311-x86_64-linux-gnu.so",
              "python/fsrcnn_fast/__pycache__/api.cpython-311.pyc", ".benchmarks/Linux/0001.json",
              "training/runs/stage/x.pt", "fsrcnn_fast.egg-info/PKG-INFO", ".pytest_cache/README.md"]
    for name in kept + decoys:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x")
    (tmp_path / "out").mkdir()
    packed = set(_build_sdist(project, tmp_path / "out"))
    assert {"LICENSE", "pyproject.toml", "README.md", "CMakeLists.txt", *kept} <= packed
    assert not packed & set(decoys), sorted(packed & set(decoys))


def test_sdist_of_this_tree_holds_what_a_build_and_the_tests_need(tmp_path):
    packed = _build_sdist(ROOT, tmp_path)
    names = set(packed)
    assert {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "CMakeLists.txt", "PKG-INFO",
            "tools/smoke_installed.py", "tests/oracle.py"} <= names
    data = resources.files("fsrcnn_fast") / "data"
    assert {f"python/fsrcnn_fast/data/{f.name}" for f in data.iterdir() if f.name.endswith(".safetensors")} <= names
    assert any(n.startswith("csrc/kernels/avx2/") for n in names)
    unwanted = [n for n in packed if n.startswith(("training/runs/", ".venv", "build/", "dist/", ".git/"))
                or "/__pycache__/" in n or n.endswith((".so", ".o", ".pyc"))]
    assert not unwanted, unwanted[:10]
