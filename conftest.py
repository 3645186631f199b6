"""Repository-wide pytest set-up.

The plain test run (``pytest``) also collects ``benchmarks/`` and runs each benchmark once with
timing disabled, so the suite cannot rot; ``pytest --benchmark-only`` times it for real.
"""

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    opt = config.option
    if hasattr(opt, "benchmark_disable") and not (opt.benchmark_only or opt.benchmark_enable):
        opt.benchmark_disable = True
