"""Random networks for the engine-vs-oracle tests."""

from __future__ import annotations

import numpy as np

from fsrcnn_fast.weights.schema import Conv, Deconv, NetworkSpec, Subpixel


def _conv(rng, name, cin, cout, k, activation, border, shared_slope=False):
    w = rng.normal(0.0, 1.0 / np.sqrt(cin * k * k), (cout, cin, k, k))
    b = rng.normal(0.0, 0.1, cout)
    slope = None
    if activation == "prelu":
        slope = rng.uniform(0.05, 0.4, 1 if shared_slope else cout)
    return Conv(name, w, b, activation, slope, border)


def fsrcnn(rng, d=56, s=12, m=4, scale=3, border="zero", tail="deconv", offset=4, shared_slope=False,
           deconv_k=9, subpixel_k=3):
    layers = [
        _conv(rng, "feature", 1, d, 5, "prelu", border, shared_slope),
        _conv(rng, "shrink", d, s, 1, "prelu", border, shared_slope),
        *[_conv(rng, f"map.{i}", s, s, 3, "prelu", border, shared_slope) for i in range(m)],
        _conv(rng, "expand", s, d, 1, "prelu", border, shared_slope),
    ]
    if tail == "deconv":
        t = Deconv("deconv", rng.normal(0, 1.0 / np.sqrt(d * 9), (d, 1, deconv_k, deconv_k)),
                   rng.normal(0, 0.1, 1), scale, offset, border)
    else:
        t = Subpixel("subpixel", rng.normal(0, 1.0 / np.sqrt(d * subpixel_k**2), (scale * scale, d, subpixel_k, subpixel_k)),
                     rng.normal(0, 0.1, 1), scale, border)
    return NetworkSpec("fsrcnn", tuple(layers), t, scale)


def srcnn(rng, f1=9, f2=5, f3=5, n1=64, n2=32, scale=3, border="replicate"):
    layers = (
        _conv(rng, "conv1", 1, n1, f1, "relu", border),
        _conv(rng, "conv2", n1, n2, f2, "relu", border),
        _conv(rng, "conv3", n2, 1, f3, "none", border),
    )
    return NetworkSpec("srcnn", layers, None, scale, pre_upsample=True)
