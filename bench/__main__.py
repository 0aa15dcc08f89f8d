"""``make bench`` / ``python -m bench``: the sync benchmark, regenerating docs/benchmarks.md and its plot.

    python -m bench                      # 10k + 100k SQLite, 100k PostgreSQL; 3 repetitions; profile at 100k
    python -m bench --quick              # 2k + 10k SQLite, 1 repetition, 3 reruns: minutes, for development
    python -m bench --million            # also 1M SQLite (1 repetition; needs ~5 GiB RAM and ~15 min today)
    python -m bench --scale sqlite:50000 --scale postgresql:10000   # exactly these datasets
    python -m bench micro [--scale 0.1] [--only NAME]               # the older in-process micro benchmarks
    python -m bench prototype --scale sqlite:100000                 # only bench/prototype.py, merged in

Results: docs/benchmarks.md (tables, profile; the hand-written diagnosis below its marker is kept),
docs/img/benchmarks.png, and the raw numbers in docs/benchmarks.json (``--out`` elsewhere for a
development run that must not touch the docs). Generated data lives in var/bench/ (git-ignored).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path

import bench
from bench import workload

# modules of the sync suite; every other module with BENCHMARKS is a micro benchmark
SUITE_MODULES = {"harness", "__main__", "shop", "floor", "naive", "proc", "report", "stages", "suite", "workload"}


def micro(argv: list[str]) -> int:
    """The in-process micro benchmarks (baseline vs candidate in the same run, with their ratio)."""
    parser = argparse.ArgumentParser(prog="python -m bench micro", description=micro.__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="size multiplier (0.1 for a quick run)")
    parser.add_argument("--only", help="run only benchmark modules whose name contains this")
    args = parser.parse_args(argv)
    rows = []
    for info in pkgutil.iter_modules([str(Path(bench.__file__).parent)]):
        if info.name in SUITE_MODULES or (args.only and args.only not in info.name):
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


def prototype_only(argv: list[str]) -> int:
    """Measure only bench/prototype.py (and its floors) and merge it into an existing results file."""
    parser = argparse.ArgumentParser(prog="python -m bench prototype", description=prototype_only.__doc__)
    parser.add_argument("--scale", type=_dataset, action="append", metavar="ENGINE:N", required=True)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=workload.ROOT / "docs" / "benchmarks.json")
    args = parser.parse_args(argv)
    from bench import proc, report, suite

    results = json.loads(args.out.read_text(encoding="utf-8"))
    for engine, customers in args.scale:
        entry = next(d for d in results["datasets"] if (d["engine"], d["customers"]) == (engine, customers))
        ds = workload.prepare(customers, engine, print)
        shop = proc.Server([sys.executable, "-m", "bench.shop", "--accounts", str(ds.accounts),
                            "--api-key", workload.API_KEY], env=suite._env())
        try:
            workload.write_config(ds, shop.url)
            entry["prototype"] = suite.prototype(ds, suite.ShopClient(shop.url), shop.url, suite._env(), args.reps,
                                                 lambda line: print(line, file=sys.stderr, flush=True))
        finally:
            shop.stop()
        args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    default = args.out == workload.ROOT / "docs" / "benchmarks.json"
    md = workload.ROOT / "docs" / "benchmarks.md" if default else args.out.with_suffix(".md")
    png = workload.ROOT / "docs" / "img" / "benchmarks.png" if default else args.out.with_suffix(".png")
    report.write(results, md, png)
    return 0


def _dataset(text: str) -> tuple[str, int]:
    engine, _, n = text.partition(":")
    engine = {"pg": "postgresql", "postgres": "postgresql"}.get(engine, engine)
    if engine not in ("sqlite", "postgresql") or not n.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected sqlite:N or postgresql:N")
    return engine, int(n)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["micro"]:
        return micro(argv[1:])
    if argv[:1] == ["prototype"]:
        return prototype_only(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2k + 10k SQLite, 1 repetition, 3 reruns")
    parser.add_argument("--million", action="store_true", help="add 1M customers on SQLite (1 repetition)")
    parser.add_argument("--scale", type=_dataset, action="append", metavar="ENGINE:N",
                        help="run exactly these datasets (repeatable)")
    parser.add_argument("--reps", type=int, help="repetitions per scenario (default 3, --quick 1)")
    parser.add_argument("--reruns", type=int, help="unchanged reruns (default 10, --quick 3)")
    parser.add_argument("--profile", type=_dataset, metavar="ENGINE:N",
                        help="dataset to profile (default sqlite:100000, --quick the largest)")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-cprofile", action="store_true", help="skip the (slow) cProfile runs")
    parser.add_argument("--no-prototype", action="store_true", help="skip bench/prototype.py")
    parser.add_argument("--out", type=Path, default=workload.ROOT / "docs" / "benchmarks.json",
                        help="raw results (JSON); the page and the plot are written beside docs/ only "
                             "when this is the default")
    parser.add_argument("--render-only", action="store_true", help="re-render the page from --out, run nothing")
    parser.add_argument("--append", action="store_true",
                        help="keep the other datasets already in --out (rerun only the ones named)")
    args = parser.parse_args(argv)

    from bench import report, suite

    md = workload.ROOT / "docs" / "benchmarks.md"
    png = workload.ROOT / "docs" / "img" / "benchmarks.png"
    default_out = args.out == workload.ROOT / "docs" / "benchmarks.json"
    if not default_out:
        md, png = args.out.with_suffix(".md"), args.out.with_suffix(".png")
    if args.render_only:
        report.write(json.loads(args.out.read_text(encoding="utf-8")), md, png)
        print(f"wrote {md} and {png}")
        return 0
    if args.scale:
        datasets = list(args.scale)
    elif args.quick:
        datasets = [("sqlite", 2_000), ("sqlite", 10_000)]
    else:
        datasets = [("sqlite", 10_000), ("sqlite", 100_000), ("postgresql", 100_000)]
    if args.million and ("sqlite", 1_000_000) not in datasets:
        datasets.append(("sqlite", 1_000_000))
    sqlite_sizes = sorted(n for e, n in datasets if e == "sqlite")
    profile = None if args.no_profile else args.profile or (
        ("sqlite", 100_000) if ("sqlite", 100_000) in datasets else ("sqlite", sqlite_sizes[-1]) if sqlite_sizes
        else datasets[-1])
    plan = suite.Plan(
        datasets=datasets, reps=args.reps or (1 if args.quick else 3),
        reruns=args.reruns or (3 if args.quick else 10), profile=profile,
        cprofile=not args.no_cprofile, reps_for={1_000_000: 1},
        naive_max=10_000, prototype=not args.no_prototype,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = suite.run(plan, args.out, log=lambda line: print(line, file=sys.stderr, flush=True),
                        append=args.append)
    report.write(results, md, png)
    print(f"wrote {args.out}, {md} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
