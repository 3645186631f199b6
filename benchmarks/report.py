"""Table and chart from a benchmark run.

    pytest benchmarks --benchmark-only --benchmark-json=bench.json
    python benchmarks/report.py bench.json --png docs/benchmark.png
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict


def load(path: str) -> list[dict]:
    rows = []
    for b in json.load(open(path))["benchmarks"]:
        info = b.get("extra_info", {})
        median = b["stats"]["median"]
        gmac = info.get("gmac_per_frame")
        rows.append({
            "group": b["group"], "runtime": info.get("runtime", b["name"]), "threads": info.get("threads"),
            "ms": median * 1e3, "fps": 1.0 / median, "gmacs": gmac / median if gmac else None,
            "peak": info.get("fma_peak_gmacs"),
        })
    return rows


def recorded_peak(rows: list[dict]) -> float | None:
    """The FMA peak measured in the benchmark session itself: measured now, it would reflect whatever
    else the machine is doing when the report is drawn."""
    peaks = sorted(r["peak"] for r in rows if r["peak"])
    return peaks[len(peaks) // 2] if peaks else None


def print_table(rows: list[dict], peak: float | None) -> None:
    print(f"{'network / size':<34}{'runtime':<24}{'thr':>4}{'ms':>10}{'fps':>9}{'GMAC/s':>9}{'% peak':>8}")
    for r in sorted(rows, key=lambda r: (r["group"], r["threads"] or 0, r["ms"])):
        pct = f"{100 * r['gmacs'] / (peak * r['threads']):7.0f}%" if peak and r["gmacs"] and r["threads"] else ""
        gm = f"{r['gmacs']:9.1f}" if r["gmacs"] else ""
        print(f"{r['group']:<34}{r['runtime']:<24}{r['threads'] or '':>4}{r['ms']:10.2f}{r['fps']:9.1f}{gm}{pct}")


def draw(rows: list[dict], png: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: pip install matplotlib to draw the chart")
        return
    groups = sorted({r["group"] for r in rows if r["threads"]})
    runtimes = sorted({r["runtime"] for r in rows if r["threads"]})
    by = defaultdict(dict)
    for r in rows:
        if r["threads"] == 1:
            by[r["group"]][r["runtime"]] = r["fps"]
    fig, ax = plt.subplots(figsize=(max(8, 1.2 * len(groups)), 5))
    width = 0.8 / max(1, len(runtimes))
    for i, rt in enumerate(runtimes):
        ax.bar([g + i * width for g in range(len(groups))], [by[g].get(rt, 0) for g in groups], width, label=rt)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], groups, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("frames per second, 1 thread (log)")
    ax.set_title("FSRCNN / SRCNN x3 on one CPU core")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"wrote {png}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("--png", default=None)
    args = ap.parse_args(argv)
    rows = load(args.json)
    peak = recorded_peak(rows)
    print(f"single-core FMA peak during the run: {peak:.1f} GMAC/s" if peak else "no FMA peak in this run")
    print_table(rows, peak)
    if args.png:
        draw(rows, args.png)


if __name__ == "__main__":
    main()
