"""Packaging: the pinned test peers have the API the comparison tests use (so those tests run, not skip, in
the README's environment)."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

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
