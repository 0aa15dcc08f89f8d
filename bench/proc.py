"""Every measured run is its own process: wall time from spawn to exit and that process's peak RSS.

Peak RSS is read portably: on POSIX from the child's own rusage (``os.wait4``: exact, per child, the kernel's
high-water mark), elsewhere (Windows) by polling ``psutil`` every 20 ms (``peak_wset`` on Windows is the
kernel's high-water mark as well, so polling only has to catch the process before it exits).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Finished:
    returncode: int
    seconds: float
    peak_rss_mib: float | None
    cpu_seconds: float | None  # user + system time of the process: far less sensitive to other load
    stdout: str
    stderr: str


# Linux copies the parent's memory high-water mark into a forked child, and ``exec`` keeps it in the child's
# ``ru_maxrss``: measured straight from this (large) bench process, every run reported at least the bench's own RSS
# (``config validate`` "took" 126 MiB at 100k). GNU time in between forks the measured process from its own small
# memory, so the peak it reports (``%M``, KiB) is the child's alone; wait4 on it still gives the child's CPU time.
_TIME = "/usr/bin/time" if sys.platform.startswith("linux") and Path("/usr/bin/time").exists() else None


def run(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
        timeout: float | None = None) -> Finished:
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tc-bench-{os.getpid()}-{threading.get_ident()}"
    with open(f"{out_path}.out", "w+", encoding="utf-8") as out, open(f"{out_path}.err", "w+", encoding="utf-8") as err:
        peak_file = Path(f"{out_path}.rss")
        launcher = [_TIME, "-o", str(peak_file), "-f", "%M"] if _TIME else []
        started = time.perf_counter()
        child = subprocess.Popen([*launcher, *cmd], stdout=out, stderr=err, env=dict(env) if env else None, cwd=cwd)
        peak: float | None = None
        cpu: float | None = None
        if hasattr(os, "wait4"):
            _pid, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - started
            child.returncode = os.waitstatus_to_exitcode(status)
            # ru_maxrss: KiB on Linux, bytes on macOS
            peak = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
            cpu = usage.ru_utime + usage.ru_stime
            if launcher:
                reported = peak_file.read_text(encoding="utf-8").split() if peak_file.exists() else []
                peak = int(reported[-1]) / 1024 if reported and reported[-1].isdigit() else None
        else:  # pragma: no cover - Windows
            peak = _poll_peak(child, timeout)
            seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        result = Finished(child.returncode, seconds, peak, cpu, out.read(), err.read())
    for suffix in (".out", ".err", ".rss"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    return result


def _poll_peak(child: subprocess.Popen[bytes], timeout: float | None) -> float | None:  # pragma: no cover
    try:
        import psutil
    except ImportError:
        child.wait(timeout)
        return None
    proc = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        try:
            info = proc.memory_info()
            peak = max(peak, getattr(info, "peak_wset", 0) or info.rss)
        except psutil.Error:
            break
        time.sleep(0.02)
    child.wait(timeout)
    return peak / (1024 * 1024)


class Server:
    """A helper process (the stand-in shop) that prints ``READY <port>`` once it listens."""

    def __init__(self, cmd: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
        self.process = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=dict(env) if env else None)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            self.stop()
            detail = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"{cmd[:3]} did not start: {line!r} {detail}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
