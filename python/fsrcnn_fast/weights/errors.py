"""The one error every weights problem raises: a file that is missing a part, unreadable, damaged,
inconsistent, beyond the engine's limits, or ambiguous about its scale or offset; and a network
description that does not chain. It is a ``ValueError``, so ``except ValueError`` keeps working."""

from __future__ import annotations

__all__ = ["WeightsError", "WeightsFileNotFoundError"]


class WeightsError(ValueError):
    """A weights file (or network description) that cannot be used, with a message naming the problem."""


class WeightsFileNotFoundError(WeightsError, FileNotFoundError):
    """The weights file does not exist (also a FileNotFoundError, as ``open`` would raise)."""
