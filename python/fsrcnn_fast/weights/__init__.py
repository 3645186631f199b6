"""Weights: the canonical network description and the file formats that produce it."""
