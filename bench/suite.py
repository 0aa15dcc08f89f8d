"""The sync benchmark: floor, naive and the product's scenarios, each run its own process, same session.

Per dataset (scale × engine): the stand-in shop starts in its own process; then, interleaved so that both
see the same machine load, ``reps`` times the floor and the product for each scenario:

* first sync (empty state store, every matched customer written),
* unchanged rerun (``reruns`` times: also gives the state growth per unchanged run),
* 1 % changed rerun (1 % of the cards' stored debt moved in the ERP before each run).

Plus the product's fixed cost (``tradecredit config validate``), the naive sync (SQLite, ≤ 10k), the stand-in's
own per-request overhead and, at the profile scale, the stage profile (``bench.stages``). Results go to a JSON
file that ``bench.report`` renders.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import proc, workload
from bench.floor import build_requests


@dataclass
class Plan:
    datasets: list[tuple[str, int]]
    reps: int = 3
    reruns: int = 10
    naive_max: int = 10_000
    profile: tuple[str, int] | None = ("sqlite", 100_000)
    cprofile: bool = True
    reps_for: dict[int, int] = field(default_factory=dict)  # customers → reps (1M: fewer)
    prototype: bool = True  # also measure bench/prototype.py (what PART B can reach)


def _python() -> str:
    return sys.executable


def _tradecredit() -> list[str]:
    folder = Path(sys.executable).parent
    for name in ("tradecredit", "tradecredit.exe"):
        if (folder / name).exists():
            return [str(folder / name)]
    return [sys.executable, "-c", "from tradecredit.core.cli import main; main()"]


def _env() -> dict[str, str]:
    env = {**os.environ, workload.API_KEY_ENV: workload.API_KEY}
    # An installed product has its bytecode compiled (pip does it); without this every run would compile
    # tradecredit's own modules again (~0.1-0.2 s) when the caller's shell forbids writing .pyc files.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workload.ROOT), env.get("PYTHONPATH")]))
    return env


class ShopClient:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port)

    def call(self, method: str, what: str) -> dict[str, Any]:
        self.conn.request(method, f"/__bench/{what}")
        return json.loads(self.conn.getresponse().read())

    def reset(self) -> None:
        self.call("POST", "reset")

    def stats(self) -> dict[str, Any]:
        return self.call("GET", "stats")


def _requests(stats: dict[str, Any]) -> dict[str, int]:
    r = stats["requests"]
    return {"GET": r.get("GET clients/clients", 0), "PUT": r.get("PUT clients/clients", 0),
            "other": sum(v for k, v in r.items() if k not in ("GET clients/clients", "PUT clients/clients"))}


def load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def shop_overhead(shop: ShopClient, url: str, plan_file: Path) -> dict[str, Any]:
    """The stand-in's own cost per request (its handler time) and the bare loopback round trip."""
    import pickle

    with plan_file.open("rb") as f:
        plan = pickle.load(f)
    gets, puts = build_requests(plan, "first", workload.CHANGE_EVERY)
    gets, puts = gets[:200], puts[:200]
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    headers = {"X-API-KEY": workload.API_KEY}
    out: dict[str, Any] = {}
    for label, reqs in (("GET (100 codes)", [("GET", "/api/admin/v6/" + g, None) for g in gets]),
                        ("PUT (100 clients)", [("PUT", "/api/admin/v6/clients/clients", b) for b in puts])):
        if not reqs:
            continue
        shop.reset()
        started = time.perf_counter()
        for method, path, body in reqs:
            conn.request(method, path, body=body, headers=headers)
            conn.getresponse().read()
        elapsed = time.perf_counter() - started
        server = shop.stats()["server_seconds"]
        out[label] = {"requests": len(reqs), "round_trip_ms": round(elapsed / len(reqs) * 1000, 3),
                      "server_ms": round(server / len(reqs) * 1000, 3)}
    conn.close()
    shop.reset()
    return out


def run_floor(ds: workload.Dataset, shop: ShopClient, shop_url: str, env: dict[str, str], scenario: str
              ) -> dict[str, Any]:
    """One floor process (bench/floor.py) for ``scenario``, with its CPU time and the requests the shop saw."""
    shop.reset()
    done = proc.run([_python(), "-m", "bench.floor", str(ds.plan_file), "--erp", ds.erp_url, "--shop", shop_url,
                     "--api-key", workload.API_KEY, "--scenario", scenario,
                     "--change-every", str(workload.CHANGE_EVERY)], env=env)
    try:
        entry: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        raise RuntimeError(f"floor failed: {done.stderr[-800:]}") from None
    entry["process_seconds"] = round(done.seconds, 3)
    entry["cpu_seconds"] = _r3(done.cpu_seconds)
    entry["requests"] = _requests(shop.stats())
    return entry


def run_dataset(engine: str, customers: int, plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    reps = plan.reps_for.get(customers, plan.reps)
    reruns = max(reps, plan.reruns if customers < 1_000_000 else reps)
    started = time.perf_counter()
    ds = workload.prepare(customers, engine, log)
    result: dict[str, Any] = {"engine": engine, "customers": customers, "facts": ds.facts,
                              "generator_seconds": round(ds.build_seconds, 1), "load_before": load(),
                              "reps": reps, "reruns": reruns}
    shop_proc = proc.Server([_python(), "-m", "bench.shop", "--accounts", str(ds.accounts),
                             "--api-key", workload.API_KEY], env=_env())
    shop = ShopClient(shop_proc.url)
    try:
        workload.write_config(ds, shop_proc.url)
        result["shop_overhead"] = shop_overhead(shop, shop_proc.url, ds.plan_file)
        env = _env()

        def product(kind: str) -> dict[str, Any]:
            shop.reset()
            done = proc.run([*_tradecredit(), "run", "-c", str(ds.config), "--json"], env=env)
            stats = shop.stats()
            entry: dict[str, Any] = {"seconds": round(done.seconds, 3), "rss_mib": _r(done.peak_rss_mib),
                                     "cpu_seconds": _r3(done.cpu_seconds), "load": load(),
                                     "rc": done.returncode, "requests": _requests(stats),
                                     "clients_written": stats["clients_written"]}
            try:
                report = json.loads(done.stdout)[0]  # `run --json` prints a list of run reports
                entry["durations"] = report.get("durations")
                entry["counts"] = report.get("counts")
                entry["report_json_bytes"] = len(done.stdout)
            except ValueError:
                entry["error"] = (done.stdout + done.stderr)[-800:]
            log(f"    {kind:10} tradecredit {done.seconds:7.2f} s (CPU {entry['cpu_seconds']} s)  "
                f"{entry['rss_mib']} MiB  {entry['requests']}  load {entry['load']}")
            return entry

        def floor(scenario: str) -> dict[str, Any]:
            entry = run_floor(ds, shop, shop_proc.url, env, scenario)
            log(f"    {scenario:10} floor       {entry['seconds']:7.2f} s  {entry['requests']}")
            return entry

        startup = proc.run([*_tradecredit(), "config", "validate", "-c", str(ds.config)], env=env)
        result["startup"] = {"seconds": round(startup.seconds, 3), "rss_mib": _r(startup.peak_rss_mib),
                             "rc": startup.returncode}
        scen: dict[str, dict[str, list[dict[str, Any]]]] = {
            k: {"floor": [], "product": []} for k in ("first", "unchanged", "changed")}
        log(f"  {ds.name}: first sync × {reps}")
        for _ in range(reps):
            scen["first"]["floor"].append(floor("first"))
            workload.reset_state(ds)
            scen["first"]["product"].append(product("first"))
        result["state_after_first"] = workload.state_size(ds)
        log(f"  {ds.name}: unchanged rerun × {reruns}")
        for i in range(reruns):
            if i < reps:
                scen["unchanged"]["floor"].append(floor("unchanged"))
            scen["unchanged"]["product"].append(product("unchanged"))
        result["state_after_reruns"] = workload.state_size(ds)
        log(f"  {ds.name}: 1 % changed × {reps}")
        for i in range(reps):
            workload.change_one_percent(ds, i)
            scen["changed"]["floor"].append(floor("changed"))
            scen["changed"]["product"].append(product("changed"))
        result["scenarios"] = scen
        if engine == "sqlite" and customers <= plan.naive_max:
            log(f"  {ds.name}: naive sync")
            shop.reset()
            done = proc.run([_python(), "-m", "bench.naive", ds.erp_url, "--shop", shop_proc.url,
                             "--api-key", workload.API_KEY], env=env)
            naive = json.loads(done.stdout)
            naive.update(process_seconds=round(done.seconds, 3), rss_mib=_r(done.peak_rss_mib),
                         requests=_requests(shop.stats()))
            result["naive"] = naive
            log(f"    naive {naive['seconds']:.2f} s")
        if plan.profile == (engine, customers):
            result["profile"] = profile(ds, env, plan.cprofile, log)
        if plan.prototype:
            result["prototype"] = prototype(ds, shop, shop_proc.url, env, reps, log)
    finally:
        shop_proc.stop()
    result["load_after"] = load()
    result["suite_seconds"] = round(time.perf_counter() - started, 1)
    return result


def prototype(ds: workload.Dataset, shop: ShopClient, shop_url: str, env: dict[str, str], reps: int,
              log: Callable[[str], None]) -> dict[str, Any]:
    """bench/prototype.py (the streaming sketch) against the floor, same scenarios, interleaved."""
    out: dict[str, Any] = {}

    def one(kind: str, *flags: str) -> dict[str, Any]:
        shop.reset()
        done = proc.run([_python(), "-m", "bench.prototype", str(ds.dir), *flags], env=env)
        try:
            entry: dict[str, Any] = json.loads(done.stdout)
        except ValueError:
            return {"error": (done.stdout + done.stderr)[-800:], "seconds": float("nan")}
        entry.update(process_seconds=round(done.seconds, 3), rss_mib=_r(done.peak_rss_mib),
                     cpu_seconds=_r3(done.cpu_seconds), requests=_requests(shop.stats()))
        log(f"    {kind:10} prototype   {done.seconds:7.2f} s (CPU {entry['cpu_seconds']} s)  "
            f"{entry['rss_mib']} MiB  {entry['requests']}")
        return entry

    def floor(scenario: str) -> dict[str, Any]:
        return run_floor(ds, shop, shop_url, env, scenario)

    log(f"  {ds.name}: prototype (bench/prototype.py)")
    for records in ("product", "lean"):
        runs: dict[str, list[dict[str, Any]]] = {"first": [], "unchanged": [], "changed": []}
        floors: dict[str, list[dict[str, Any]]] = {"first": [], "unchanged": [], "changed": []}
        for i in range(reps):
            floors["first"].append(floor("first"))
            runs["first"].append(one("first", "--records", records, "--fresh"))
            floors["unchanged"].append(floor("unchanged"))
            runs["unchanged"].append(one("unchanged", "--records", records))
            workload.change_one_percent(ds, 100 + i)
            floors["changed"].append(floor("changed"))
            runs["changed"].append(one("changed", "--records", records))
        out[records] = {"runs": runs, "floors": floors}
    return out


def profile(ds: workload.Dataset, env: dict[str, str], cprofile: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Stage shares of a first sync and an unchanged rerun; memory per stage of a first sync."""
    out: dict[str, Any] = {}

    def stages(*flags: str) -> dict[str, Any]:
        done = proc.run([_python(), "-m", "bench.stages", str(ds.config), *flags], env=env)
        try:
            data: dict[str, Any] = json.loads(done.stdout)
        except ValueError:
            return {"error": (done.stdout + done.stderr)[-800:]}
        data["rss_mib"] = _r(done.peak_rss_mib)
        return data

    log(f"  {ds.name}: profiling (sampling) first sync and unchanged rerun")
    workload.reset_state(ds)
    out["first"] = stages()
    out["unchanged"] = stages()
    log(f"  {ds.name}: memory per stage (tracemalloc) of a first sync")
    workload.reset_state(ds)
    out["memory_first"] = stages("--memory")
    if cprofile:
        log(f"  {ds.name}: cProfile of a first sync and an unchanged rerun")
        workload.reset_state(ds)
        out["cprofile_first"] = stages("--cprofile")
        out["cprofile_unchanged"] = stages("--cprofile")
    return out


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _r3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def machine() -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=workload.ROOT, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": load()}


def run(plan: Plan, out: Path, log: Callable[[str], None] = print, *, append: bool = False) -> dict[str, Any]:
    """Run the plan's datasets; with ``append``, keep the other datasets already in ``out`` (one rerun)."""
    results: dict[str, Any] = {"machine": machine(), "datasets": [], "skipped": []}
    if append and out.exists():
        kept = json.loads(out.read_text(encoding="utf-8"))
        wanted = set(plan.datasets)
        results["datasets"] = [d for d in kept["datasets"] if (d["engine"], d["customers"]) not in wanted]
        results["machine"]["earlier"] = kept["machine"]
    pg = workload.pg_available()
    for engine, customers in plan.datasets:
        if engine == "postgresql" and not pg:
            results["skipped"].append(f"{engine} {customers}: PostgreSQL at {workload.PG_ADMIN} unreachable")
            log(f"skipping {engine} {customers}: PostgreSQL unreachable")
            continue
        log(f"{engine} {customers:,} customers")
        results["datasets"].append(run_dataset(engine, customers, plan, log))
        results["datasets"].sort(key=lambda d: (d["engine"] != "sqlite", d["customers"]))
        out.write_text(json.dumps(results, indent=1), encoding="utf-8")  # partial results survive a stop
    results["machine"]["load_end"] = load()
    out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
