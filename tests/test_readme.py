"""The README's code is run, not just read."""

import os
import re
from pathlib import Path

import numpy as np
import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_pytorch_export_snippet(tmp_path):
    torch = pytest.importorskip("torch")
    from fsrcnn_fast import Model

    code = re.search(r"```python\n(from safetensors.torch import save_file.*?)```", README, re.S).group(1)
    nn = torch.nn
    torch.manual_seed(0)

    class FSRCNN(nn.Module):  # the common first_part / mid_part / last_part layout
        def __init__(self, scale=3, d=56, s=12, m=4):
            super().__init__()
            self.first_part = nn.Sequential(nn.Conv2d(1, d, 5, padding=2), nn.PReLU(d))
            mid = [nn.Conv2d(d, s, 1), nn.PReLU(s)]
            for _ in range(m):
                mid += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
            mid += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
            self.mid_part = nn.Sequential(*mid)
            self.last_part = nn.ConvTranspose2d(d, 1, 9, stride=scale, padding=4, output_padding=scale - 1)

        def forward(self, x):
            return self.last_part(self.mid_part(self.first_part(x)))

    model = FSRCNN()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(code, {"model": model})
    finally:
        os.chdir(cwd)
    y = np.random.default_rng(0).uniform(0, 1, (17, 23)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(y)[None, None])[0, 0].numpy()
    got = Model.load(tmp_path / "fsrcnn_x3.safetensors").run_y(y)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_setup_commands_are_what_ci_runs():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    for command in ("pip install '.[test]'", "python -m pytest"):
        assert command in README and command in ci
