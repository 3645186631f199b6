"""The command line: upscale files (8- and 16-bit) and the eval table."""

import subprocess
import sys

import numpy as np
import pytest

PIL = pytest.importorskip("PIL.Image")

from fsrcnn_fast.cli import main  # noqa: E402
from fsrcnn_fast.io import read_image, write_image  # noqa: E402


@pytest.mark.parametrize("ext", ["png", "bmp", "tif", "jpg"])
def test_upscale_rgb_file(tmp_path, ext, capsys):
    src, dst = tmp_path / f"in.{ext}", tmp_path / f"out.{ext}"
    img = np.random.default_rng(0).integers(0, 256, (20, 30, 3)).astype(np.uint8)
    write_image(src, img)
    assert main(["upscale", str(src), str(dst), "--scale", "2", "--threads", "1"]) == 0
    out = read_image(dst)
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert "-> " in capsys.readouterr().out


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_gray_preserved(tmp_path, ext):
    src, dst = tmp_path / f"in.{ext}", tmp_path / f"out.{ext}"
    img = (np.random.default_rng(0).integers(0, 65536, (12, 10))).astype(np.uint16)
    write_image(src, img)
    assert main(["upscale", str(src), str(dst)]) == 0
    out = read_image(dst)
    assert out.dtype == np.uint16 and out.shape == (36, 30)
    assert out.max() > 255  # really 16-bit, not squashed to 8


def test_rgba_png(tmp_path):
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    img = np.random.default_rng(0).integers(0, 256, (9, 8, 4)).astype(np.uint8)
    write_image(src, img)
    assert main(["upscale", str(src), str(dst), "--scale", "4"]) == 0
    assert read_image(dst).shape == (36, 32, 4)


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["upscale", str(tmp_path / "missing.png"), str(tmp_path / "o.png")]) == 2
    assert "error" in capsys.readouterr().err
    src = tmp_path / "in.png"
    write_image(src, np.zeros((4, 4), np.uint8))
    assert main(["upscale", str(src), str(tmp_path / "o.png"), "--model", "nope"]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_python_dash_m(tmp_path):
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    write_image(src, np.zeros((5, 6), np.uint8))
    r = subprocess.run([sys.executable, "-m", "fsrcnn_fast", "upscale", str(src), str(dst)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert read_image(dst).shape == (15, 18)


def test_eval_table(shared_data, capsys):
    assert main(["eval", "--set", str(shared_data / "Set5"), "--scale", "3", "--bicubic-only"]) == 0
    out = capsys.readouterr().out
    assert "30.39 / 0.8682" in out.splitlines()[-1]


def test_eval_markdown_summary(shared_data, capsys):
    args = ["eval", "--set", str(shared_data / "Set5"), "--set", str(shared_data / "Set14"), "--scale", "2,4",
            "--bicubic-only", "--markdown"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| Set5 | x2 | bicubic | 33.66 |" in out
    assert "| Set14 | x4 | bicubic | 26.00 |" in out
