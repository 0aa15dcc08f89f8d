"""The physical floor of one sync, in its own process: what any correct implementation must at least do.

1. The product's own set-based statement (captured from a real read, with its parameters), run on the raw
   driver with rows fetched in chunks and discarded (server-side cursor on PostgreSQL, as the product streams).
2. ``ceil(n / 100)`` matching ``GET clients/clients`` for the n customers that can be written (first sync
   only: later runs know their matches), then ``ceil(changed / 100)`` ``PUT clients/clients`` with bodies
   built before the clock starts, on one keep-alive connection (``http.client``, the leanest client).

    python -m bench.floor PLAN --shop URL --scenario first|unchanged|changed

Prints one JSON line: seconds per part and the requests sent.
"""

from __future__ import annotations

import argparse
import http.client
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

BATCH = 100


def build_requests(plan: dict[str, Any], scenario: str, change_every: int) -> tuple[list[str], list[bytes]]:
    writable = plan["writable"]  # (code, erp_id, login | None, limit, balance)
    gets: list[str] = []
    if scenario == "first":
        codes = [w[0] for w in writable]
        for i in range(0, len(codes), BATCH):
            gets.append("clients/clients?clientCodesExternal=" + quote(",".join(codes[i:i + BATCH]), safe="")
                        + "&returnElements=clientId%2CclientLogin%2CclientCodeExternal&resultsPage=0&resultsLimit=100")
    if scenario == "first":
        to_put = [w for w in writable if w[2]]
    elif scenario == "changed":
        to_put = [w for w in writable if w[2] and w[1] % change_every == 0]
    else:
        to_put = []
    puts = []
    for i in range(0, len(to_put), BATCH):
        clients = [{"clientLogin": login, "clientTradeCreditLimitExternal": limit,
                    "clientBalanceAmountExternal": balance, "requestReference": code}
                   for code, _erp, login, limit, balance in to_put[i:i + BATCH]]
        puts.append(json.dumps({"params": {"clients": clients}, "clientsSettings": {
            "clientSettingSendMail": False, "clientSettingSendSms": False}}).encode())
    return gets, puts


def read_all(plan: dict[str, Any], url: str) -> int:
    """Run the statement, fetch every row, keep none."""
    rows = 0
    if plan["engine"] == "sqlite":
        import sqlite3

        path = url.split("///", 1)[1]
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        cur = con.execute(plan["sql"], plan["params"])
        while chunk := cur.fetchmany(1000):
            rows += len(chunk)
        con.close()
    else:
        import psycopg

        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as con, con.cursor(name="floor") as cur:
            cur.execute(plan["sql"], plan["params"])
            while chunk := cur.fetchmany(1000):
                rows += len(chunk)
    return rows


def send(shop: str, api_key: str, gets: list[str], puts: list[bytes]) -> tuple[float, float]:
    parts = urlsplit(shop)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    base = "/api/admin/v6/"
    headers = {"X-API-KEY": api_key, "Accept": "application/json"}
    started = time.perf_counter()
    for path in gets:
        conn.request("GET", base + path, headers=headers)
        conn.getresponse().read()
    got = time.perf_counter()
    put_headers = {**headers, "Content-Type": "application/json"}
    for body in puts:
        conn.request("PUT", base + "clients/clients", body=body, headers=put_headers)
        conn.getresponse().read()
    done = time.perf_counter()
    conn.close()
    return got - started, done - got


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("plan", type=Path)
    parser.add_argument("--erp", required=True, help="the ERP database URL")
    parser.add_argument("--shop", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--scenario", choices=["first", "unchanged", "changed"], required=True)
    parser.add_argument("--change-every", type=int, default=100)
    args = parser.parse_args(argv)
    with args.plan.open("rb") as f:
        plan = pickle.load(f)
    gets, puts = build_requests(plan, args.scenario, args.change_every)
    del plan["writable"]
    started = time.perf_counter()
    rows = read_all(plan, args.erp)
    read_s = time.perf_counter() - started
    get_s, put_s = send(args.shop, args.api_key, gets, puts)
    total = time.perf_counter() - started
    print(json.dumps({"seconds": total, "read_s": read_s, "get_s": get_s, "put_s": put_s, "rows": rows,
                      "gets": len(gets), "puts": len(puts)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
