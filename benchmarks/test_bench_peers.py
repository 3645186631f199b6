"""The same networks with the same weights in PyTorch, ONNX Runtime and OpenCV DNN (optional
extras, skipped when absent), each checked against our output before it is timed."""

import numpy as np
import pytest

from conftest import all_threads
from fsrcnn_fast import Model
from networks import NETWORKS, SIZES, network_input
from peers import PEERS
from test_bench_engine import record

THREADS = sorted({1, all_threads()})
PEER_SIZES = ["240x240", "1080p"]


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("size", PEER_SIZES)
@pytest.mark.parametrize("network", ["FSRCNN", "FSRCNN-s", "SRCNN-955"])
@pytest.mark.parametrize("peer", list(PEERS))
def test_peer(benchmark, peer, network, size, threads, fma_peak_gmacs):
    spec = NETWORKS[network]()
    try:
        run = PEERS[peer](spec, threads)
    except ImportError as exc:
        pytest.skip(f"{peer} not installed ({exc.name})")
    x = network_input(spec, SIZES[size])
    ours = Model(spec)._engine.run(x, 1)
    theirs = run(x)
    assert theirs.shape == ours.shape
    assert np.max(np.abs(theirs - ours)) <= 1e-4, f"{peer} disagrees with fsrcnn_fast"
    benchmark.group = f"{network} {size}"
    rounds = 2 if network.startswith("SRCNN") and size == "1080p" else 5
    benchmark.pedantic(run, args=(x,), rounds=rounds, warmup_rounds=1)
    record(benchmark, spec, size, threads, fma_peak_gmacs, runtime=peer)
