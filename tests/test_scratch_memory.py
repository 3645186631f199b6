"""Scratch memory kept between engine calls (csrc/engine/scratch_memory.h): a call's rings and
buffers come from a block the Network keeps, so that repeated calls neither fault memory back in nor
see what an earlier call left there."""

import threading

import numpy as np
import pytest

import netgen
from fsrcnn_fast import Model
from test_threading import run_script


def fresh_model(seed=0):
    return Model(netgen.fsrcnn(np.random.default_rng(seed), d=16, s=6, m=2, scale=3, border="replicate"))


def rgb(rows, cols, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (rows, cols, 3)).astype(np.uint8)


def test_a_call_leaves_its_scratch_for_the_next():
    model = fresh_model()
    engine = model._engine
    assert engine.scratch_cached_bytes == 0
    image = rgb(61, 75)
    first = model.upscale(image, threads=2)
    kept = engine.scratch_cached_bytes
    assert kept > 0
    for _ in range(4):
        assert np.array_equal(model.upscale(image, threads=2), first)
    assert engine.scratch_cached_bytes == kept  # the same block, reused: no growth, no second block


def frame(model, image, threads, tile_cols=0):
    out = np.empty((image.shape[0] * 3, image.shape[1] * 3) + image.shape[2:], image.dtype)
    model._engine.run_frame(image, [out], False, threads, tile_cols=tile_cols)
    return out


def test_reused_memory_holds_nothing_of_the_last_call():
    """Bigger, smaller, gray, colour, other tile widths, planes and frames, from one Network: each
    result equals a fresh Network's (whose memory is new), bit for bit."""
    used = fresh_model()
    calls = [(rgb(97, 131, 1), 0), (rgb(13, 9, 2), 0), (rgb(40, 41, 3)[..., 0].copy(), 0),
             (rgb(64, 200, 4), 40), (rgb(23, 17, 5), 8), (rgb(97, 131, 6).astype(np.float32) / 255, 0),
             (rgb(30, 250, 7), 96)]
    for image, tile_cols in calls:
        for threads in (1, 2):
            got = frame(used, image, threads, tile_cols)
            assert np.array_equal(got, frame(fresh_model(), image, threads, tile_cols)), (image.shape, tile_cols)
            plane = np.ascontiguousarray(image[..., 0] if image.ndim == 3 else image, np.float32) / 255
            assert np.array_equal(used._engine.run(plane, threads, tile_cols=tile_cols),
                                  fresh_model()._engine.run(plane, threads, tile_cols=tile_cols))


def test_concurrent_calls_each_lease_a_block():
    model = fresh_model()
    image = rgb(50, 60)
    want = model.upscale(image, threads=1)
    one = model._engine.scratch_cached_bytes
    results, barrier = [None] * 6, threading.Barrier(6)

    def work(i):
        barrier.wait()
        results[i] = [model.upscale(image, threads=1 + i % 2) for _ in range(3)]

    workers = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert all(np.array_equal(r, want) for rs in results for r in rs)
    # At most four blocks are kept (kMaxCached), each at most what a 2-thread call needs.
    assert 0 < model._engine.scratch_cached_bytes <= 4 * 3 * one


def test_repeated_calls_do_not_fault_memory_back_in():
    """upscale() of a 240x240 RGB frame at 2 threads, 40 times from the main thread (the call runs on a
    pool thread): before the scratch was kept, 615-745 page faults a call (its rings freed and trimmed
    from that thread's arena each time); now under one (the bound, 8, leaves room for Python's own small allocations)."""
    out = run_script("""
        import resource
        import numpy as np
        from fsrcnn_fast import Model
        model = Model.load("fsrcnn", scale=3)
        image = np.random.default_rng(0).integers(0, 256, (240, 240, 3)).astype(np.uint8)
        out = np.empty((720, 720, 3), np.uint8)
        for _ in range(3):
            model.upscale(image, threads=2, out=out)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(40):
            model.upscale(image, threads=2, out=out)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40)
    """)
    assert float(out) < 8, f"{float(out):.1f} page faults per call"
