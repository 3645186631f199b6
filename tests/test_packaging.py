"""Packaging: the version in one place, the metadata and licence, the shipped weights' licence, and the
pinned test peers have the API the comparison tests use (so those tests run, not skip, in the README's
environment)."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import re
import sys
from importlib import resources
import types

import pytest
from safetensors import safe_open

import fsrcnn_fast

from peer_api import PEER_APIS, installed_version, missing_attribute, pinned_version, require


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
