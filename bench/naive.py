"""The naive sync, in its own process: a query, a GET and a PUT per customer (what set-based design avoids).

Per active card: its row, the sum of its open receivables (one query each, on the indexed payer column), a
``GET clients/clients`` for its code and, when the shop has the account, a ``PUT`` of that one customer.
No validation, no state: it is a lower bound of the per-customer design, not a product.

    python -m bench.naive ERP_URL --shop URL --api-key KEY [--limit N]

Prints one JSON line (seconds, customers, requests). SQLite ERPs only (the suite runs it at 10k).
"""

from __future__ import annotations

import argparse
import http.client
import json
import sqlite3
import sys
import time
from urllib.parse import quote, urlsplit

CARD = ('SELECT "Knt_KntId", "Knt_Kod", "Knt_LimitFlag", "Knt_LimitKredytu", "Knt_LimitKredytuWykorzystany", '
        '"Knt_LimitKredytuWal" FROM "Kontrahenci" WHERE "Knt_KntId" = ?')
OPEN = ('SELECT COALESCE(SUM(CAST("BZd_KwotaSys" AS REAL) - CAST("BZd_KwotaRozSys" AS REAL)), 0) FROM "BnkZdarzenia" '
        'WHERE "BZd_PodmiotTyp" = 1 AND "BZd_PodmiotID" = ? AND "BZd_Rozliczono" = 1 AND "BZd_Kierunek" > 0 '
        'AND "BZd_Stan" > 0')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("erp")
    parser.add_argument("--shop", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--limit", type=int, default=0, help="stop after N customers (0 = all)")
    args = parser.parse_args(argv)
    parts = urlsplit(args.shop)
    headers = {"X-API-KEY": args.api_key, "Accept": "application/json"}
    put_headers = {**headers, "Content-Type": "application/json"}
    base = "/api/admin/v6/clients/clients"
    started = time.perf_counter()
    con = sqlite3.connect(f"file:{args.erp.split('///', 1)[1]}?mode=ro", uri=True)
    shop = http.client.HTTPConnection(parts.hostname, parts.port)
    ids = [r[0] for r in con.execute('SELECT "Knt_KntId" FROM "Kontrahenci" WHERE "Knt_PodmiotTyp" = 1 '
                                     'AND "Knt_Nieaktywny" = 0 ORDER BY "Knt_KntId"')]
    if args.limit:
        ids = ids[:args.limit]
    gets = puts = 0
    for kid in ids:
        _id, code, flag, limit, used, _currency = con.execute(CARD, (kid,)).fetchone()
        con.execute(OPEN, (kid,)).fetchone()
        shop.request("GET", f"{base}?clientCodesExternal={quote(code)}&returnElements=clientId%2CclientLogin",
                     headers=headers)
        found = json.loads(shop.getresponse().read()).get("results") or []
        gets += 1
        if not found:
            continue
        body = {"params": {"clients": [{
            "clientLogin": found[0]["clientLogin"], "requestReference": code,
            "clientTradeCreditLimitExternal": float(limit) if flag else 0.0,
            "clientBalanceAmountExternal": -float(used)}]},
            "clientsSettings": {"clientSettingSendMail": False, "clientSettingSendSms": False}}
        shop.request("PUT", base, body=json.dumps(body).encode(), headers=put_headers)
        shop.getresponse().read()
        puts += 1
    shop.close()
    con.close()
    print(json.dumps({"seconds": time.perf_counter() - started, "customers": len(ids), "gets": gets, "puts": puts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
