"""Video through PyAV (issue 20): frames upscaled with their timestamps, audio copied unchanged, codec and
CRF options, clear errors. The clips are made here with PyAV."""

import numpy as np
import pytest

av = pytest.importorskip("av")

from fsrcnn_fast import Model  # noqa: E402
from fsrcnn_fast.cli import main  # noqa: E402
from fsrcnn_fast.files import FileError  # noqa: E402
from fsrcnn_fast.video import upscale_video  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return Model.load("fsrcnn", scale=2)


def make_clip(path, n=10, w=48, h=32, rate=25, audio=True, pts=None, codec="libx264"):
    rng = np.random.default_rng(7)
    frames = [rng.integers(0, 256, (h, w, 3)).astype(np.uint8) for _ in range(n)]
    with av.open(str(path), "w") as c:
        v = c.add_stream(codec, rate=rate)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        if pts is not None:  # variable frame rate: timestamps in milliseconds
            v.time_base = v.codec_context.time_base = __import__("fractions").Fraction(1, 1000)
        a = c.add_stream("aac", rate=44100) if audio else None
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i if pts is None else pts[i]
            c.mux(v.encode(f))
        c.mux(v.encode(None))
        if a is not None:
            t = np.arange(int(44100 * n / rate)) / 44100
            af = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                            format="fltp", layout="mono")
            af.sample_rate, af.pts = 44100, 0
            c.mux(a.encode(af))
            c.mux(a.encode(None))
    return frames


def video_facts(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        facts = {"size": (v.codec_context.width, v.codec_context.height), "codec": v.codec_context.name,
                 "rate": v.average_rate}
        facts["times"] = [float(f.pts * f.time_base) for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        facts["audio"] = [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size] if c.streams.audio else []
    return facts


def test_frames_timestamps_and_audio(tmp_path, model):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src)
    result = upscale_video(model, src, dst, threads=1)
    a, b = video_facts(src), video_facts(dst)
    assert result.frames == 10 and result.audio_streams == 1
    assert b["size"] == (96, 64) and b["codec"] == "h264"
    assert b["rate"] == a["rate"] == 25 and b["times"] == a["times"]
    assert b["audio"] == a["audio"] and len(a["audio"]) > 5  # packets copied byte for byte


def test_frames_are_the_model_output(tmp_path, model):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, n=4, audio=False)
    with av.open(str(src)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    upscale_video(model, src, dst, threads=1, codec="ffv1", crf=None, pix_fmt="bgr0")  # lossless RGB
    with av.open(str(dst)) as c:
        out = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(out) == 4
    for d, o in zip(decoded, out):
        assert np.array_equal(o, model.upscale(d, threads=1))


def test_variable_frame_rate_timestamps_kept(tmp_path, model):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_clip(src, n=5, audio=False, pts=[0, 40, 120, 130, 300])
    upscale_video(model, src, dst, threads=1)
    assert video_facts(dst)["times"] == video_facts(src)["times"] == [0.0, 0.04, 0.12, 0.13, 0.3]


def test_crf_and_codec_options(tmp_path, model):
    src = tmp_path / "in.mp4"
    make_clip(src, n=6, audio=False)
    sizes = {}
    for crf in (10, 40):
        dst = tmp_path / f"out{crf}.mp4"
        assert main(["upscale", str(src), str(dst), "--scale", "2", "--crf", str(crf), "-q"]) == 0
        sizes[crf] = dst.stat().st_size
    assert sizes[10] > sizes[40]
    dst = tmp_path / "mpeg4.mp4"
    assert main(["upscale", str(src), str(dst), "--scale", "2", "--codec", "mpeg4", "-q"]) == 0
    assert video_facts(dst)["codec"] == "mpeg4"


def test_cli_video_errors(tmp_path, capsys):
    src = tmp_path / "in.mp4"
    make_clip(src, n=2, audio=False)
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"not a video at all")
    cases = [
        ([src, tmp_path / "o.png"], "give a video output"),
        ([fake, tmp_path / "o.mp4"], "fake.mp4"),
        ([src, tmp_path / "o2.mp4", "--codec", "no-such-codec"], "no-such-codec"),
        ([src, src], "is the input"),
    ]
    for argv, message in cases:
        assert main(["upscale", *map(str, argv), "--scale", "2", "-q"]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.mp4", "in.mp4"]  # nothing partial left


def test_interrupt_leaves_no_partial_video(tmp_path, model):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, n=8, audio=True)
    seen = []

    def upscale_then_interrupt(rgb):
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return model.upscale(rgb, threads=1)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(model, src, dst, upscale=upscale_then_interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    with pytest.raises(FileError, match="exists"):
        dst.write_bytes(b"x")
        upscale_video(model, src, dst)
