"""benchmarks/report.py: % of peak uses the FMA peak measured during the benchmark session."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_report():
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "benchmarks" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_row(median_s, threads, peak):
    info = {"runtime": "fsrcnn_fast", "threads": threads, "gmac_per_frame": 0.5}
    if peak is not None:
        info["fma_peak_gmacs"] = peak
    return {"group": "FSRCNN 240x240", "name": "t", "stats": {"median": median_s}, "extra_info": info}


def test_percent_of_peak_uses_the_recorded_peak(tmp_path, capsys):
    report = load_report()
    path = tmp_path / "bench.json"
    # 0.5 GMAC in 10 ms = 50 GMAC/s; peaks 40, 50, 80 recorded: the median, 50, is the peak.
    rows = [bench_row(0.010, 1, 40.0), bench_row(0.010, 1, 50.0), bench_row(0.005, 2, 80.0)]
    path.write_text(json.dumps({"benchmarks": rows}))
    assert report.recorded_peak(report.load(str(path))) == 50.0
    report.main([str(path)])
    out = capsys.readouterr().out
    assert "peak during the run: 50.0 GMAC/s" in out
    assert out.count(" 100%") == 3  # 50 GMAC/s on 1 thread, 100 GMAC/s on 2 threads


def test_no_recorded_peak_leaves_percent_out(tmp_path, capsys):
    report = load_report()
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"benchmarks": [bench_row(0.010, 1, None)]}))
    assert report.recorded_peak(report.load(str(path))) is None
    report.main([str(path)])
    out = capsys.readouterr().out
    assert "no FMA peak" in out and "%" not in out.splitlines()[-1]
