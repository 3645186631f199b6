"""The peers the comparison tests run against (OpenCV, ONNX Runtime): the API a test needs, or a skip that
names what is missing, in which version, and the version the test extra pins.

A peer release can drop an API (OpenCV 5.1 removed cv2.dnn.readNetFromTensorflow); the test then says so
instead of failing with an AttributeError deep in its body. tests/test_packaging.py checks that the pinned
versions have every API listed in PEER_APIS, so in the README's environment these tests run, never skip.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import re

import pytest

# import name -> (distribution the test extra pins, the attributes the tests use)
PEER_APIS = {
    "cv2": ("opencv-contrib-python-headless",
            ("dnn.readNetFromTensorflow", "dnn.readNetFromONNX", "dnn_superres.DnnSuperResImpl_create")),
    "onnxruntime": ("onnxruntime", ("InferenceSession",)),
}


def pinned_version(distribution: str) -> str | None:
    """The exact version the installed fsrcnn_fast's test extra pins for a distribution, if any."""
    try:
        requirements = md.requires("fsrcnn_fast") or []
    except md.PackageNotFoundError:
        return None
    for req in requirements:
        m = re.match(rf"\s*{re.escape(distribution)}\s*==\s*([^\s;]+)\s*;.*extra\s*==\s*['\"]test['\"]", req, re.I)
        if m:
            return m.group(1)
    return None


def installed_version(distribution: str) -> str | None:
    try:
        return md.version(distribution)
    except md.PackageNotFoundError:
        return None


def missing_attribute(module: object, dotted: str) -> str | None:
    """The first part of a dotted attribute path the module lacks (``dnn.readNetFromTensorflow``), or None."""
    obj = module
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return part
        obj = getattr(obj, part)
    return None


def require(module_name: str, *attributes: str):
    """Imports a peer and returns it when it has every attribute (dotted paths); skips naming the gap otherwise."""
    module = pytest.importorskip(module_name)
    distribution = PEER_APIS[module_name][0] if module_name in PEER_APIS else module_name
    for dotted in attributes:
        if missing_attribute(module, dotted) is not None:
            version = installed_version(distribution) or getattr(module, "__version__", "?")
            pin = pinned_version(distribution)
            hint = f"; the test extra pins {distribution}=={pin} (pip install '.[test]')" if pin else ""
            pytest.skip(f"{distribution} {version} has no {module_name}.{dotted}, which this test compares "
                        f"against{hint}")
    return module
