"""Where one ``tradecredit run`` spends its time and memory, per stage, in its own process.

The run report's ``durations`` are coarse (``read`` holds the SQL fetch and the record building; ``write``
holds the HTTP and the state writes). This runs the real CLI (``tradecredit run -c CONFIG --json``)
in-process under a sampling profiler: a thread looks at the main thread's stack every millisecond and
files the sample under the stage its frames say (``STAGES``). Sampling costs a few per cent, unlike
cProfile, so the shares hold. ``--cprofile`` adds a deterministic profile's top functions (slower; the
shares between functions still hold). ``--memory`` traces allocations (tracemalloc, one frame) and reads the live
bytes and the RSS after every stage, so each stage's growth is what it keeps alive.

    python -m bench.stages CONFIG [--cprofile] [--memory]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

# (file part, function or None) → stage, checked from the outermost frame inwards; a "final" stage stops the
# walk (nothing deeper can re-file the sample), the others are refined by deeper frames.
FINAL = {
    "state": ("core/state.py",),
    "HTTP (client + shop)": ("/httpx/", "/httpcore/", "/h11/", "/http/client.py", "socket.py", "/ssl.py",
                             "/anyio/"),
    "startup: imports": ("<frozen importlib",),
}
REFINE = [
    # read
    ("core/sync.py", "_execute", "read: orchestrator (chunks, dedupe)"),
    ("core/sync.py", "_snapshot", "read: key index (Source.keys)"),
    ("core/sync.py", "__init__", "read: key index (Source.keys)"),
    ("core/sync.py", "feed", "match (orchestrator, not-found cache)"),
    ("core/sync.py", "match_codes", "match (orchestrator, not-found cache)"),
    ("plugins/optima/source.py", "_stream", "read: SQL fetch (driver + SQLAlchemy rows)"),
    ("plugins/optima/source.py", "build", "read: record building (Optima build + CreditRecord)"),
    ("core/records.py", None, "read: record building (Optima build + CreditRecord)"),
    # match
    ("plugins/idosell/target.py", "match", "match (target, without HTTP/state)"),
    # diff
    ("core/sync.py", "_diff", "diff (ledger compare, OutgoingItem)"),
    ("plugins/idosell/target.py", "payload", "diff: payload building"),
    ("core/engine.py", "degrade_mode", "diff (ledger compare, OutgoingItem)"),
    # write
    ("core/sync.py", "_write_batch", "write (orchestrator, without HTTP/state)"),
    ("core/sync.py", "finish", "run bookkeeping"),
    ("plugins/idosell/target.py", "write", "write: target (body, pairing)"),
    ("core/sync.py", "_confirm_unchanged", "confirm unchanged"),
    # around
    ("core/config.py", None, "startup: config + plugins"),
    ("core/plugins.py", None, "startup: config + plugins"),
    ("core/report.py", None, "report (render / JSON)"),
    ("core/cli.py", "run", "report (render / JSON)"),
    ("core/sync.py", "run_pipeline", "run bookkeeping"),
]


def classify(frame: FrameType | None) -> str:
    stack = []
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    label = "startup / other"
    for f in reversed(stack):  # outermost first
        filename = f.f_code.co_filename.replace("\\", "/")
        if filename.endswith("core/state.py") and f.f_code.co_name in ("dumps", "payload", "_loads") \
                and label.startswith("diff"):
            return "diff: canonical JSON of payloads"
        for stage, parts in FINAL.items():
            if any(p in filename for p in parts):
                return stage
        name = f.f_code.co_name
        for part, func, stage in REFINE:
            if part in filename and (func is None or func == name):
                label = stage
                break
        else:
            if label.startswith("read") and ("/sqlalchemy/" in filename or "sqlite3" in filename
                                             or "/psycopg/" in filename):
                label = "read: SQL fetch (driver + SQLAlchemy rows)"
    return label


class Sampler(threading.Thread):
    def __init__(self, target_thread: int, interval: float = 0.001) -> None:
        super().__init__(daemon=True)
        self.target_thread, self.interval = target_thread, interval
        self.samples: Counter[str] = Counter()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            frame = sys._current_frames().get(self.target_thread)
            self.samples[classify(frame)] += 1
            time.sleep(self.interval)


def _memory_hook(out: dict[str, Any]) -> None:
    """Live Python bytes (tracemalloc) and RSS along a streamed run: what stays alive while it goes.

    Wrapped from outside (the product is not changed): ``_snapshot`` (the key index), ``_Stream.feed`` (after
    the first, the tenth and the last chunk) and ``_Stream.finish`` (outcomes, report lists).
    """
    import tracemalloc

    from tradecredit.core import sync

    points: list[dict[str, Any]] = []
    out["memory_points"] = points

    def mark(name: str) -> None:
        current, peak = tracemalloc.get_traced_memory()
        points.append({"after": name, "traced_mib": round(current / 2**20, 1),
                       "traced_peak_mib": round(peak / 2**20, 1), "rss_mib": _rss_mib()})

    def wrap(owner: Any, attr: str, before: str | None, after: str) -> None:
        original = getattr(owner, attr)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if before:
                mark(before)
            result = original(*args, **kwargs)
            mark(after)
            return result

        setattr(owner, attr, wrapper)

    wrap(sync, "_snapshot", "start of the run (imports, config, plugins, state open)",
         "key index (Source.keys: duplicate suspects)")
    feed = sync._Stream.feed
    fed = [0]

    def counted(self: Any, records: Any, *, final: bool = False) -> None:
        feed(self, records, final=final)
        fed[0] += 1
        if fed[0] in (1, 10) or final:
            mark(f"chunk {fed[0]} (read, matched, diffed, written)" if not final else "last chunk (carry flushed)")

    sync._Stream.feed = counted  # type: ignore[method-assign]
    wrap(sync._Stream, "finish", None, "finish (outcomes, report lists)")
    tracemalloc.start(1)


def _rss_mib() -> float | None:
    try:
        import psutil

        return round(psutil.Process().memory_info().rss / 2**20, 1)
    except ImportError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sys.setswitchinterval(0.0005)  # let the sampler in while the main thread runs Python code
    sampler = Sampler(threading.main_thread().ident or 0)
    result: dict[str, Any] = {}
    profiler = None
    if args.memory:
        _memory_hook(result)
    if args.cprofile:
        import cProfile

        profiler = cProfile.Profile()
    sampler.start()
    stdout = io.StringIO()
    from tradecredit.core.cli import cli  # imported under the sampler: startup is part of the picture

    if profiler:
        profiler.enable()
    with contextlib.redirect_stdout(stdout), contextlib.suppress(SystemExit):
        cli.main(["run", "-c", str(args.config), "--json"], prog_name="tradecredit", standalone_mode=True)
    if profiler:
        profiler.disable()
    sampler.stop.set()
    sampler.join()
    total = sum(sampler.samples.values()) or 1
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["samples"] = total
    result["shares"] = {k: round(v / total, 4) for k, v in sampler.samples.most_common()}
    try:
        report = json.loads(stdout.getvalue())[0]  # `run --json` prints a list of run reports
        result["durations"] = report.get("durations")
        result["counts"] = report.get("counts")
    except ValueError:
        result["stdout_tail"] = stdout.getvalue()[-500:]
    if profiler:
        import pstats

        stats = pstats.Stats(profiler)
        rows = []
        for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            rows.append((tottime, cumtime, ncalls, f"{_short(filename)}:{line}({func})"))
        rows.sort(reverse=True)
        result["cprofile_total_s"] = round(sum(r[0] for r in rows), 3)
        result["cprofile_top"] = [{"tottime": round(t, 3), "cumtime": round(c, 3), "calls": n, "function": f}
                                  for t, c, n, f in rows[:args.top]]
    print(json.dumps(result))
    return 0


def _short(filename: str) -> str:
    filename = filename.replace("\\", "/")
    for marker in ("site-packages/", f"{Path(__file__).resolve().parent.parent.as_posix()}/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


if __name__ == "__main__":
    sys.exit(main())
