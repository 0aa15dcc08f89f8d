"""Run every benchmark module under bench/ and print baseline vs candidate with their ratio.

Usage: python -m bench [--scale 0.1] [--only NAME]
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

import bench


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="size multiplier (0.1 for a quick run)")
    parser.add_argument("--only", help="run only benchmark modules whose name contains this")
    args = parser.parse_args()
    rows = []
    for info in pkgutil.iter_modules([str(Path(bench.__file__).parent)]):
        if info.name in {"harness", "__main__"} or (args.only and args.only not in info.name):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        for benchmark in getattr(module, "BENCHMARKS", []):
            print(f"running {info.name}.{benchmark.__name__} …", file=sys.stderr, flush=True)
            rows.append(benchmark(args.scale))
    print(f"\n{'benchmark':38} {'size':>18}  {'baseline':>30}  {'candidate':>30}  {'ratio':>7}")
    for r in rows:
        base = f"{r.baseline_label} {r.baseline_s * 1000:,.1f} ms"
        cand = f"{r.candidate_label} {r.candidate_s * 1000:,.1f} ms"
        print(f"{r.name:38} {r.unit:>18}  {base:>30}  {cand:>30}  {r.ratio:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
