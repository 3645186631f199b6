"""Image files through fsrcnn_fast.files and the command line (issue 20): what a file carries survives,
writes are safe, folders work, every ordinary mistake is one line and an exit code. Each file is made
here by Pillow (or OpenCV / tifffile for what Pillow cannot write)."""

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

Image = pytest.importorskip("PIL.Image")
from PIL import ImageCms, ImageOps  # noqa: E402

from fsrcnn_fast import Model, files, upscale  # noqa: E402
from fsrcnn_fast.cli import main  # noqa: E402
from fsrcnn_fast.progress import Progress  # noqa: E402

RNG = np.random.default_rng(20)


@pytest.fixture(scope="module")
def model():
    return Model.load("fsrcnn", scale=2)


def rgb(h=12, w=17, dtype=np.uint8):
    hi = 256 if dtype == np.uint8 else 65536
    return RNG.integers(0, hi, (h, w, 3)).astype(dtype)


def run(*argv):
    return main(["upscale", *map(str, argv), "--scale", "2", "--threads", "1", "--quiet"])


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# --- what a file carries ---------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_and_tag_reset(tmp_path, orientation):
    src, dst = tmp_path / "in.jpg", tmp_path / "out.jpg"
    im = Image.fromarray(rgb(10, 16))
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(src, exif=exif.tobytes(), quality=100)
    read = files.read_image_file(src)
    assert np.array_equal(read.image, np.asarray(ImageOps.exif_transpose(Image.open(src))))
    assert run(src, dst) == 0
    with Image.open(dst) as out:
        displayed = (16, 10) if orientation >= 5 else (10, 16)
        assert out.size == (displayed[1] * 2, displayed[0] * 2)
        assert out.getexif().get(0x0112) == 1  # reset: viewers must not turn it again


def test_exif_orientation_kept_on_request(tmp_path):
    src, dst = tmp_path / "in.jpg", tmp_path / "out.jpg"
    im = Image.fromarray(rgb(10, 16))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(src, exif=exif.tobytes())
    assert main(["upscale", str(src), str(dst), "--scale", "2", "--orientation", "keep", "-q"]) == 0
    with Image.open(dst) as out:
        assert out.size == (32, 20) and out.getexif().get(0x0112) == 6


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tif"])
def test_icc_dpi_exif_carried(tmp_path, ext):
    src, dst = tmp_path / f"in.{ext}", tmp_path / f"out.{ext}"
    im = Image.fromarray(rgb())
    exif = im.getexif()
    exif[0x010F] = "fsrcnn test camera"  # Make
    icc = srgb_profile()
    im.save(src, icc_profile=icc, dpi=(300, 300), exif=exif.tobytes())
    assert run(src, dst) == 0
    with Image.open(dst) as out:
        assert out.info.get("icc_profile") == icc
        if ext != "webp":  # WebP has no resolution field
            assert out.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        if ext != "tif":  # a TIFF's tags are its own IFD
            assert out.getexif().get(0x010F) == "fsrcnn test camera"


def test_16bit_rgb_png_stays_16bit(tmp_path, model):
    cv2 = pytest.importorskip("cv2")
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    img = rgb(9, 13, np.uint16)
    cv2.imwrite(str(src), np.ascontiguousarray(img[..., ::-1]))  # libpng, its own filter choices
    assert np.array_equal(files.read_image_file(src).image, img)
    assert run(src, dst) == 0
    out = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert out.dtype == np.uint16
    assert np.array_equal(out, model.upscale(img, threads=1))


def test_16bit_rgba_png_and_tiff(tmp_path, model):
    tifffile = pytest.importorskip("tifffile")
    img = RNG.integers(0, 65536, (8, 11, 4)).astype(np.uint16)
    for ext in ("png", "tif"):
        src, dst = tmp_path / f"in.{ext}", tmp_path / f"out.{ext}"
        if ext == "tif":
            tifffile.imwrite(src, img, photometric="rgb", extrasamples=["unassalpha"])
        else:
            files.write_image_file(src, img)
        assert run(src, dst) == 0
        out = files.read_image_file(dst).image
        assert out.dtype == np.uint16 and np.array_equal(out, model.upscale(img, threads=1))
    assert tifffile.imread(tmp_path / "out.tif").dtype == np.uint16


def _png(width, height, rows_by_filter, raw):
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    data = b"".join(bytes([f]) + r for f, r in zip(rows_by_filter, raw))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b"")


def _filter_rows(rows, kinds, bpp):
    """PNG rows filtered byte by byte with the spec's formulas (rows: bytes each, kinds: 0-4 per row)."""
    filtered = []
    for r, row in enumerate(rows):
        prev = rows[r - 1] if r else bytes(len(row))
        out = bytearray()
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else (b if abs(p - b) <= abs(p - c) else c)
            pred = [0, a, b, (a + b) // 2, paeth][kinds[r]]
            out.append((x - pred) % 256)
        filtered.append(bytes(out))
    return filtered


def test_png_decoder_every_filter(tmp_path):
    """The 16-bit decoder undoes all five row filters (the PNG spec's formulas, encoded here byte by byte)."""
    img = rgb(5, 4, np.uint16)
    rows = [img[r].astype(">u2").tobytes() for r in range(5)]
    kinds = [r % 5 for r in range(5)]
    path = tmp_path / "f.png"
    path.write_bytes(_png(4, 5, kinds, _filter_rows(rows, kinds, 6)))
    assert np.array_equal(files.read_image_file(path).image, img)


@pytest.mark.parametrize("height,width", [(1, 1), (1, 9), (8, 1), (7, 5), (13, 11)])
@pytest.mark.parametrize("bpp", [4, 6, 8])  # 16-bit gray+alpha, RGB, RGBA
@pytest.mark.parametrize("kinds", ["paeth", "average", "mixed"])
def test_png_unfilter_random(height, width, bpp, kinds):
    """Runs of Average and Paeth rows (decoded a diagonal at a time, in bands) next to the other filters:
    every band height, shape and pixel size against the byte-by-byte reference."""
    rng = np.random.default_rng(height * 100 + width * 10 + bpp)
    # Few distinct values, so Paeth's ties (which its order of a, b, c settles) are common; 255 next to
    # 0 is where a predictor's overflow would show.
    raw = rng.choice(np.array([0, 1, 2, 3, 128, 254, 255], np.uint8), (height, width * bpp))
    kind_of = {"paeth": np.full(height, 4), "average": np.full(height, 3),
               "mixed": rng.integers(0, 5, height)}[kinds].astype(np.uint8)
    rows = [raw[r].tobytes() for r in range(height)]
    filtered = np.array([np.frombuffer(f, np.uint8) for f in _filter_rows(rows, kind_of, bpp)])
    assert np.array_equal(files._png_unfilter(Path("f.png"), kind_of, filtered, bpp), raw)
    if kinds != "mixed":
        prev = np.zeros(width * bpp, np.uint8)
        for band_rows in (1, 2, 5):
            out = files._png_unfilter_wavefront(filtered, kind_of == 4, prev, bpp, band_rows=band_rows)
            assert np.array_equal(out, raw), band_rows


def test_png_unknown_row_filter_is_refused(tmp_path):
    img = rgb(3, 4, np.uint16)
    rows = [img[r].astype(">u2").tobytes() for r in range(3)]
    path = tmp_path / "f.png"
    path.write_bytes(_png(4, 3, [0, 5, 0], rows))
    with pytest.raises(files.FileError, match="row filter 5"):
        files.read_image_file(path)


def test_palette_transparency_becomes_rgba(tmp_path, model):
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    p = Image.fromarray(RNG.integers(0, 4, (8, 9)).astype(np.uint8), "P")
    p.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    p.save(src, transparency=0)
    assert run(src, dst) == 0
    with Image.open(dst) as out:
        assert out.mode == "RGBA"
        expected = model.upscale(np.asarray(Image.open(src).convert("RGBA")), threads=1)
        assert np.array_equal(np.asarray(out), expected)
        assert np.asarray(out)[..., 3].min() == 0  # the transparent colour is still transparent


def test_la_png_stays_la(tmp_path):
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(RNG.integers(0, 256, (8, 9, 2)).astype(np.uint8), "LA").save(src)
    assert run(src, dst) == 0
    with Image.open(dst) as out:
        assert out.mode == "LA" and out.size == (18, 16)


@pytest.mark.parametrize("channels", [1, 3])
def test_float_tiff_in_and_out(tmp_path, model, channels):
    src, dst = tmp_path / "in.tif", tmp_path / "out.tif"
    img = RNG.uniform(0.1, 0.9, (10, 12) if channels == 1 else (10, 12, 3)).astype(np.float32)
    if channels == 1:
        Image.fromarray(img, "F").save(src)
    else:
        pytest.importorskip("tifffile").imwrite(src, img, photometric="rgb")
    assert run(src, dst) == 0
    out = files.read_image_file(dst).image
    assert out.dtype == np.float32 and out.mean() > 0.05  # on main: all black
    np.testing.assert_allclose(out, model.upscale(img, threads=1), atol=1e-6)


def test_animated_gif_and_webp_every_frame_with_durations(tmp_path):
    frames = [Image.fromarray(rgb(10, 12)) for _ in range(3)]
    for ext in ("gif", "webp"):
        src, dst = tmp_path / f"in.{ext}", tmp_path / f"out.{ext}"
        frames[0].save(src, save_all=True, append_images=frames[1:], duration=[40, 60, 80], loop=0)
        assert run(src, dst) == 0
        out = files.read_image_file(dst)
        assert len(out.frames) == 3 and out.meta.durations == [40, 60, 80] and out.image.shape[:2] == (20, 24)


def test_multiframe_refused_clearly_where_the_format_holds_one(tmp_path, capsys):
    src = tmp_path / "in.gif"
    frames = [Image.fromarray(rgb(6, 6)) for _ in range(2)]
    frames[0].save(src, save_all=True, append_images=frames[1:])
    assert run(src, tmp_path / "o.jpg") == 2
    assert "holds one frame" in capsys.readouterr().err
    with pytest.raises(files.FileError, match="2 frames"):
        files.read_image_file(src, frames="single")
    assert main(["upscale", str(src), str(tmp_path / "o.jpg"), "--scale", "2", "--frames", "first", "-q"]) == 0


def test_jpeg_quality_default_high_and_option(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(rgb(64, 64)).save(src)
    sizes = {}
    for q in (None, 95, 60):
        dst = tmp_path / f"out{q}.jpg"
        extra = [] if q is None else ["--quality", str(q)]
        assert main(["upscale", str(src), str(dst), "--scale", "2", "-q", *extra]) == 0
        sizes[q] = dst.stat().st_size
        with Image.open(dst) as out:
            ref = io.BytesIO()
            out.convert("RGB").save(ref, "JPEG", quality=q or 95)
            assert Image.open(ref).quantization == out.quantization
    assert sizes[None] == sizes[95] > sizes[60]


def test_png_compress_level_option(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8), (64, 1))).save(src)
    sizes = {}
    for level in ("0", "9"):
        dst = tmp_path / f"out{level}.png"
        assert main(["upscale", str(src), str(dst), "--scale", "2", "-q", "--compress-level", level]) == 0
        sizes[level] = dst.stat().st_size
    assert sizes["0"] > 2 * sizes["9"]


def test_pil_images_given_to_upscale(model):
    p = Image.fromarray(RNG.integers(0, 3, (8, 9)).astype(np.uint8), "P")
    p.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    out = upscale(p, 2, threads=1)
    assert out.mode == "RGB"  # on main: gray palette indices
    assert np.array_equal(np.asarray(out), model.upscale(np.asarray(p.convert("RGB")), threads=1))
    cmyk = Image.fromarray(rgb(8, 9)).convert("CMYK")
    out = model.upscale(cmyk, threads=1)
    assert out.mode == "RGB" and out.size == (18, 16)  # on main: read as 4-channel RGBA
    gray16 = Image.fromarray(RNG.integers(0, 65536, (8, 9)).astype(np.uint16))
    assert np.asarray(model.upscale(gray16, threads=1)).dtype == np.uint16
    assert model.upscale(Image.fromarray(rgb(8, 9)).convert("LA"), threads=1).mode == "LA"


def test_cmyk_file_converted_or_refused(tmp_path):
    src = tmp_path / "in.jpg"
    Image.fromarray(rgb()).convert("CMYK").save(src)
    read = files.read_image_file(src)
    assert read.image.shape == (12, 17, 3) and read.meta.converted_from == "CMYK"
    with pytest.raises(files.FileError, match="CMYK"):
        files.read_image_file(src, convert=False)


# --- safe writes ----------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["png", "jpg"])  # this module's PNG writer; Pillow's JPEG writer
def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch, ext):
    src, dst = tmp_path / "in.png", tmp_path / f"out.{ext}"
    Image.fromarray(rgb()).save(src)

    def write_then_interrupt(self_or_fh, fp_or_arr=None, *a, **k):
        fh = fp_or_arr if ext == "jpg" else self_or_fh
        fh.write(b"\x89PNG\r\n\x1a\n partial")
        raise KeyboardInterrupt
    if ext == "jpg":
        monkeypatch.setattr(Image.Image, "save", write_then_interrupt)
    else:
        monkeypatch.setattr(files, "_write_png", write_then_interrupt)
    assert run(src, dst) == 130
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]  # no output, no temporary file


def test_never_overwrites_input_nor_existing_output(tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(rgb()).save(src)
    before = src.read_bytes()
    assert run(src, src) == 2
    assert "is the input" in capsys.readouterr().err and src.read_bytes() == before
    assert main(["upscale", str(src), str(src), "--scale", "2", "--overwrite", "-q"]) == 2
    assert src.read_bytes() == before
    dst = tmp_path / "out.png"
    dst.write_bytes(b"keep me")
    assert run(src, dst) == 2
    assert "exists" in capsys.readouterr().err and dst.read_bytes() == b"keep me"
    assert main(["upscale", str(src), str(dst), "--scale", "2", "--overwrite", "-q"]) == 0
    assert Image.open(dst).size == (34, 24)


def test_output_checked_before_compute(tmp_path, monkeypatch, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(rgb()).save(src)
    calls = []
    monkeypatch.setattr(Model, "upscale", lambda self, *a, **k: calls.append(1))
    for dst, message in [(tmp_path / "missing" / "o.png", "does not exist"), (tmp_path / "o.xyz", "unknown image"),
                         (tmp_path / "o", None)]:
        if message is None:
            continue
        assert run(src, dst) == 2
        assert message in capsys.readouterr().err
    rgba = tmp_path / "rgba.png"
    Image.fromarray(RNG.integers(0, 256, (5, 5, 4)).astype(np.uint8)).save(rgba)
    assert run(rgba, tmp_path / "o.jpg") == 2
    assert "no alpha" in capsys.readouterr().err
    assert calls == []


# --- one-line errors --------------------------------------------------------------------------


def test_ordinary_mistakes_are_one_line(tmp_path, capsys):
    good = tmp_path / "good.png"
    Image.fromarray(rgb()).save(good)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good.read_bytes()[:60])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = [
        ([folder, tmp_path / "o.png"], "needs an output folder"),
        ([corrupt, tmp_path / "o1.png"], "corrupt.png"),
        ([text, tmp_path / "o2.png"], "notes.png: not an image"),
        ([tmp_path / "nothere.png", tmp_path / "o3.png"], "no such file"),
        ([good, tmp_path / "o4.mp4"], "not a video"),
    ]
    for argv, message in cases:
        assert run(*argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1, err


def test_directory_as_output_writes_into_it(tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(rgb()).save(src)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert run(src, out_dir) == 0  # on main: "unknown file extension: "
    assert Image.open(out_dir / "in.png").size == (34, 24)


def test_ctrl_c_is_clean(tmp_path, monkeypatch, capsys):
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(rgb()).save(src)

    def interrupt(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(Model, "upscale", interrupt)
    assert run(src, dst) == 130
    assert "interrupted" in capsys.readouterr().err and not dst.exists()


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(files.FileError):
        main(["upscale", str(tmp_path / "nothere.png"), str(tmp_path / "o.png"), "--debug"])


def test_convert_into_missing_folder(tmp_path, capsys):
    from fsrcnn_fast.registry import shipped_path as _shipped_path

    assert main(["convert", str(_shipped_path("fsrcnn", 2)), str(tmp_path / "no" / "x.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1


def test_version(capsys):
    import fsrcnn_fast

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and fsrcnn_fast.__version__ in capsys.readouterr().out


# --- folders ----------------------------------------------------------------------------------


def _tree(root):
    (root / "a" / "b").mkdir(parents=True)
    for rel in ("one.png", "two.jpg", "a/three.png", "a/b/four.bmp"):
        Image.fromarray(rgb(6, 7)).save(root / rel)
    (root / "a" / "readme.txt").write_text("not an image")


def test_folder_layout_ext_skip_and_summary(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    _tree(src)
    assert main(["upscale", str(src), str(out), "--scale", "2", "--threads", "1"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["one.png", "two.jpg"]
    assert "2 written, 0 skipped" in capsys.readouterr().out
    assert main(["upscale", str(src), str(out), "-r", "--ext", "webp", "--scale", "2"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.webp")) == [
        "a/b/four.webp", "a/three.webp", "one.webp", "two.webp"]
    assert main(["upscale", str(src), str(out), "-r", "--scale", "2"]) == 0
    assert "2 written, 2 skipped" in capsys.readouterr().out.splitlines()[-1]


def test_glob_and_several_files(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    _tree(src)
    assert run(str(src / "*.png"), out) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["one.png"]
    assert main(["upscale", str(src / "**" / "*.png"), str(out), "-r", "--scale", "2", "-q"]) == 0
    assert (out / "a" / "three.png").is_file()
    out2 = tmp_path / "out2"
    assert run(src / "one.png", src / "two.jpg", out2) == 0
    assert sorted(p.name for p in out2.iterdir()) == ["one.png", "two.jpg"]


def test_one_bad_file_is_reported_and_skipped(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        Image.fromarray(rgb(6, 7)).save(src / f"{i}.png")
    (src / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert main(["upscale", str(src), str(out), "--scale", "2"]) == 1
    captured = capsys.readouterr()
    assert "1.png" in captured.err and "Traceback" not in captured.err
    assert "2 written, 0 skipped (output exists), 1 failed" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["0.png", "2.png"]


def test_batch_matches_one_by_one(tmp_path, model):
    src = tmp_path / "in"
    src.mkdir()
    images = [rgb(5 + i, 9) for i in range(6)]
    for i, img in enumerate(images):
        Image.fromarray(img).save(src / f"{i}.png")
    pairs = files.plan_batch([src], tmp_path / "out")
    result = files.upscale_batch(model, pairs, threads=1, io_threads=2)
    assert result.ok and len(result.written) == 6
    for i, img in enumerate(images):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / f"{i}.png")), model.upscale(img, threads=1))


# --- progress ---------------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_only_on_a_terminal(monkeypatch):
    quiet = io.StringIO()
    with Progress(4, "img", stream=quiet) as bar:
        bar.update(4)
    assert quiet.getvalue() == ""
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)  # the fallback bar
    tty = _Tty()
    with Progress(4, "img", "upscale", stream=tty) as bar:
        for _ in range(4):
            bar.update()
    assert "4/4" in tty.getvalue() and "img/s" in tty.getvalue()


def test_cli_quiet_prints_nothing(tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(rgb()).save(src)
    assert run(src, tmp_path / "o.png") == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_write_refuses_to_replace_its_input(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(rgb()).save(src)
    with pytest.raises(files.FileError, match="input"):
        files.write_image_file(src, rgb(), overwrite=True, inputs=[src])
