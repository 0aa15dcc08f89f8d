"""``make reliability``: the long mode of the reliability suite (issue 12).

Runs hundreds of crash schedules (convergence.py) from a printed base seed, the two-process lease races many
times on SQLite and PostgreSQL (test_one_writer.py), and writes the figures into docs/reliability.md between
its ``long-mode`` markers. Exit status 1 if any schedule broke a promise (each is printed with its seed).

    python tests/reliability/long_mode.py [--schedules 200] [--races 10] [--seed N] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOC = ROOT / "docs" / "reliability.md"
START, END = "<!-- long-mode:start -->", "<!-- long-mode:end -->"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--races", type=int, default=10, help="two-process races per state backend")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/reliability.md")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**9)
    print(f"reliability long mode: base seed {seed} ({args.schedules} schedules, {args.races} races per backend)",
          flush=True)
    sys.path.insert(0, str(HERE))
    from convergence import run_schedule, summary

    outcomes = []
    failed = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tc-reliability-") as tmp:
        for i in range(args.schedules):
            outcome = run_schedule(seed + i, Path(tmp) / f"s{i}")
            outcomes.append(outcome)
            if outcome.problems:
                failed.append(outcome)
                print(f"  seed {outcome.seed}: " + "; ".join(outcome.problems), flush=True)
            if (i + 1) % 20 == 0:
                print(f"  {i + 1} schedules, {time.monotonic() - started:.0f}s", flush=True)
    figures = summary(outcomes)
    races = _races(args.races)
    figures.update(seed=seed, races=races, wall_seconds=round(time.monotonic() - started, 1))
    print(json.dumps(figures, indent=2), flush=True)
    if not args.no_write:
        _write(figures, args)
    return 1 if failed or races["exit"] != 0 else 0


def _races(rounds: int) -> dict[str, object]:
    """The one-writer suite with ``rounds`` two-process starts per test, on SQLite and PostgreSQL."""
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "reliability/test_one_writer.py", "-p", "no:cacheprovider"],
        cwd=ROOT / "tests", env={**os.environ, "TC_RELIABILITY_RACES": str(rounds)}, capture_output=True, text=True)
    tail = out.stdout.strip().splitlines()[-1:] or [""]
    print("  races:", tail[0], flush=True)
    return {"rounds_per_backend": rounds, "backends": "sqlite, postgresql", "result": tail[0], "exit": out.returncode,
            "seconds": round(time.monotonic() - started, 1)}


def _write(f: dict[str, object], args: argparse.Namespace) -> None:
    kills = f["kills"]
    faults = f["faults"]
    assert isinstance(kills, dict) and isinstance(faults, dict)
    races = f["races"]
    assert isinstance(races, dict)
    lines = [
        START,
        f"Measured {f['when']} with `make reliability ARGS=\"--schedules {args.schedules} --races {args.races}\"`, "
        f"base seed **{f['seed']}** (replay: add `--seed {f['seed']}`), {f['wall_seconds']} s on a 2-core machine "
        "shared with other jobs.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| crash schedules | {f['schedules']} ({f['runs']} faulty runs; each schedule then a clean run and a rerun) |",
        f"| kills by moment | {', '.join(f'{k} {v}' for k, v in kills.items())} (total {sum(kills.values())}) |",
        f"| faults by kind (hits) | {', '.join(f'{k} {v}' for k, v in faults.items())} (total "
        f"{sum(faults.values())}) |",
        f"| repeated writes | {f['repeated_writes']} — every one a batch whose answer was never recorded |",
        f"| divergences (shop ≠ ERP, ledger ≠ shop) | {f['divergences']} |",
        f"| broken promises of any kind | {f['problems']} |",
        f"| lease takeovers (dead holders) | {f['lease_takeovers']} |",
        f"| two-process races | {races['rounds_per_backend']} rounds of each race test on {races['backends']} "
        f"(test_one_writer.py): {races['result']} |",
        END,
    ]
    text = DOC.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    DOC.write_text(head + "\n".join(lines) + tail, encoding="utf-8")
    print(f"figures written to {DOC}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
