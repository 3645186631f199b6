"""training/score.py: --eight-views (the 8-view mean undoes each rotation and flip it applies) and --per-image."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import fsrcnn_fast

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def score():
    spec = importlib.util.spec_from_file_location("score", ROOT / "training" / "score.py")
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved  # score.py puts training/ on the path for its own imports
    return module


def nearest_x3(lr):  # commutes with every rotation and flip
    return np.repeat(np.repeat(lr, 3, axis=0), 3, axis=1)


@pytest.mark.parametrize("shape", [(7, 10), (1, 4), (6, 6)])
def test_eight_view_mean_of_an_equivariant_map_is_the_map(score, shape):
    lr = np.random.default_rng(1).random(shape, dtype=np.float32)
    np.testing.assert_allclose(score.eight_view_mean(nearest_x3, lr), nearest_x3(lr), rtol=0, atol=1e-6)


def test_eight_view_mean_of_a_network_is_equivariant(score):
    model = fsrcnn_fast.Model.load("fsrcnn-s", scale=3)
    lr = np.random.default_rng(2).random((9, 13), dtype=np.float32)

    def run(y):
        return model.run_y(y, threads=1)

    mean = score.eight_view_mean(run, lr)
    assert mean.shape == (27, 39)
    np.testing.assert_allclose(score.eight_view_mean(run, np.rot90(lr).copy()), np.rot90(mean), rtol=0, atol=1e-5)
    np.testing.assert_allclose(score.eight_view_mean(run, lr[::-1].copy()), mean[::-1], rtol=0, atol=1e-5)
    assert np.abs(mean - run(lr)).max() > 1e-4  # the network alone is not equivariant: the test can see a wrong undo


@pytest.mark.parametrize("scale,width", [(3, 2), (2, 1), (4, 3)])
def test_border_psnr_scores_only_the_ring_inside_the_shave(score, scale, width):
    """--border N: the PSNR of the HR pixels within N LR pixels of the edge, once the protocol's shave of
    `scale` pixels is gone: errors in the shaved frame or the interior do not count, the ring's do."""
    image = np.random.default_rng(scale).integers(20, 230, (41, 53), dtype=np.uint8)
    hr, _ = fsrcnn_fast.metrics.protocol_pair(image, scale)

    def run(lr):
        out = hr.astype(np.float64)
        out[:scale] += 50  # the shaved frame: never scored
        h, w = out.shape
        ring = np.zeros(out.shape, bool)
        ring[scale : h - scale, scale : w - scale] = True
        c = scale + width * scale
        ring[c : h - c, c : w - c] = False
        out[ring] += 4
        out[c : h - c, c : w - c] += 1  # interior: not the ring's business
        return out / 255.0

    assert score.set_scores([("synthetic", image)], scale, run, width)[1] == pytest.approx(10 * np.log10(255**2 / 16))


def test_per_image_scores_are_the_images_of_the_mean(score):
    """--per-image: one (name, PSNR) per image, in order, whose mean is the split's score."""
    rng = np.random.default_rng(3)
    images = [(f"im_{i}.png", rng.integers(0, 256, (30 + 3 * i, 27, 3)).astype(np.uint8)) for i in range(3)]
    per_image = []
    whole, _ = score.set_scores(images, 3, nearest_x3, per_image=per_image)
    assert [name for name, _ in per_image] == [name for name, _ in images]
    assert len({round(p, 6) for _, p in per_image}) == 3  # three different images, three scores
    assert np.mean([p for _, p in per_image]) == pytest.approx(whole, abs=1e-12)


def test_per_image_table_has_a_column_per_argument_whose_mean_is_its_row(score, monkeypatch, capsys):
    """main() --per-image: a column per weights argument (a repeated file too), in order, each column the
    images of that argument's split score."""
    # smooth images, where two networks differ by tenths of a dB (on noise every network scores alike, to
    # the table's three decimals)
    rng = np.random.default_rng(4)
    images = []
    for i in range(2):
        y, x = np.mgrid[0:36, 0 : 33 + 3 * i]
        phase = rng.random(3)[None, None] * 6
        plane = 128 + 70 * np.sin(x[..., None] / (3 + i) + phase) * np.cos(y[..., None] / 4)
        images.append((f"im_{i}.png", np.clip(plane + rng.normal(0, 2, plane.shape), 0, 255).astype(np.uint8)))
    monkeypatch.setattr(score, "held_out", lambda name, nth: images)
    monkeypatch.setattr(sys, "argv", ["score.py", "fsrcnn-s", "fsrcnn", "fsrcnn-s", "--sets", "T91", "--per-image"])
    score.main()
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split("|")[2:-1] for line in lines if line.startswith("| T91/im_")]
    assert len(rows) == 2
    columns = np.array([[float(v) for v in row] for row in rows]).T  # one per weights argument
    np.testing.assert_array_equal(columns[0], columns[2])
    assert (columns[0] != columns[1]).all()
    means = [float(line.split("|")[2]) for line in lines if line.startswith("| fsrcnn")]
    np.testing.assert_allclose(columns.mean(axis=1), means, atol=5e-4)
