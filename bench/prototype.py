"""A sketch of the streaming sync PART B of issue 13 should build, to measure what is reachable. NOT product code.

Same plugins as the product (``OptimaSource.read`` for the records, ``IdoSellTarget`` for payloads, matching
and writes over the product's HTTP layer), a different orchestrator and state path:

* duplicate codes from a compact key index built by a codes-only pre-pass (``--keys``: ``prepass`` runs one
  cheap ``SELECT`` of the codes; PART B would give sources an optional ``keys()`` hook), so nothing needs the
  whole snapshot in memory;
* then chunk by chunk (``--chunk`` records): records the target refuses anyway (currency) are dropped before
  matching; matches and "not found" answers come from a cache read per chunk (one ``IN`` query), only cache
  misses cost a ``GET``; the ledger rows of the chunk are read with one ``IN`` query; the diff compares the
  canonical JSON text; changed customers are sent in batches of 100; each batch's ledger rows are
  upserted (``INSERT … ON CONFLICT DO UPDATE``, payload stored once) in one transaction with the cache;
* no per-customer audit rows for unchanged outcomes, no report lists beyond counts.

``--records lean`` builds records with ``CreditRecord.model_construct`` (no pydantic validation) to show the
share validation has in the read; the product must keep validating, so it bounds what a cheaper validation
can win.

    python -m bench.prototype CONFIG_DIR [--records product|lean] [--chunk 1000] [--fresh]

``CONFIG_DIR`` is a dataset folder of the suite (``var/bench/sqlite-100000``): its ERP, accounts, stand-in URL
(from tradecredit.toml). Prints one JSON line with seconds per stage and counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, create_engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

meta = MetaData()
ledger = Table("proto_ledger", meta, Column("customer_key", String(200), primary_key=True),
               Column("payload", Text, nullable=False))
cache = Table("proto_match", meta, Column("code", String(200), primary_key=True),
              Column("login", String(200)),  # NULL: the shop has no account ("not found", refreshed by rule)
              Column("client_id", String(40)), Column("checked_at", DateTime(timezone=True)))


class Timer:
    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()

    def add(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - started
        return now


def chunks(it: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in it:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--records", choices=["product", "lean"], default="product")
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--fresh", action="store_true", help="empty the prototype's state first (a first sync)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    from datetime import UTC, datetime

    from tradecredit import AdapterContext, CreditRecord, RejectedRow
    from tradecredit.core.engine import degrade_mode
    from tradecredit.core.records import normalise_code
    from tradecredit.core.state import dumps
    from tradecredit.plugins.idosell.target import IdoSellOptions, IdoSellTarget
    from tradecredit.plugins.optima import OptimaSource
    from tradecredit.plugins.optima import source as optima_source

    from bench import workload

    timer = Timer()
    imports_done = timer.add("startup (imports)", started)
    config = tomllib.loads((args.dataset / "tradecredit.toml").read_text(encoding="utf-8"))
    erp_url = config["sources"]["optima"]["url"]
    state_url = config["state"]["url"].replace("state.db", "proto-state.db").replace("tc_bench_state_",
                                                                                     "tc_bench_proto_")
    if state_url.startswith("postgresql") and args.fresh:
        workload.pg_recreate(state_url.rsplit("/", 1)[1])
    elif args.fresh:
        Path(state_url.split("///", 1)[1]).unlink(missing_ok=True)
    state = create_engine(state_url)
    meta.create_all(state)
    insert = pg_insert if state.dialect.name == "postgresql" else sqlite_insert

    if args.records == "lean":
        def construct(source: str, erp_id: object, code: object, **fields: Any) -> Any:
            return CreditRecord.model_construct(source=source, erp_id=str(erp_id), code=code, **fields)
        optima_source.record_or_rejection = construct  # type: ignore[assignment]

    source = OptimaSource(OptimaSource.Options(url=erp_url), AdapterContext(instance_name="optima"))
    target = IdoSellTarget(IdoSellOptions(base_url=config["targets"]["shop"]["base_url"],
                                          api_key=workload.API_KEY), AdapterContext(instance_name="shop"))
    counts: Counter[str] = Counter()
    t = timer.add("startup (config, engines)", imports_done)

    # 1. compact key index: normalised key → number of cards with it (a codes-only pre-pass)
    from sqlalchemy import text
    from tradecredit.core.sql import create_source_engine
    keys_engine = create_source_engine(erp_url)
    kontrahenci = '"CDN"."Kontrahenci"' if keys_engine.dialect.name == "postgresql" else '"Kontrahenci"'
    seen: Counter[str] = Counter()
    with keys_engine.connect() as conn:
        for (code,) in conn.execute(text(
                f'SELECT "Knt_Kod" FROM {kontrahenci} WHERE ("Knt_PodmiotTyp" = 1 OR "Knt_PodmiotTyp" IS NULL) '
                'AND ("Knt_Nieaktywny" = 0 OR "Knt_Nieaktywny" IS NULL)')):
            if code:
                seen[normalise_code(code)] += 1
    duplicates = {k for k, n in seen.items() if n > 1}
    del seen
    keys_engine.dispose()
    t = timer.add("keys pre-pass (duplicates)", t)

    native, policy = target.native_modes, target.mode_policy()
    modes: dict[Any, Any] = {}
    now = datetime.now(UTC)
    stream = iter(source.read(workload.AS_OF))
    t = timer.add("read: SQL + records", t)
    from tradecredit import ItemStatus, OutgoingItem

    # Batches must not end where chunks end: codes to look up and customers to write wait in these buffers
    # until a full batch of 100 is there (or the stream ends), so the requests equal the floor's.
    to_match: list[Any] = []  # records whose code missed the cache
    to_send: list[tuple[Any, ...]] = []  # (record, match, mode, payload, text)
    done = False
    while not done:
        t = time.perf_counter()
        chunk = list(_take(stream, args.chunk))
        t = timer.add("read: SQL + records", t)
        done = not chunk
        records = []
        for item in chunk:
            if isinstance(item, RejectedRow) or item.key in duplicates:
                counts["rejected"] += 1
            elif item.currency != target.options.currency:
                counts["rejected"] += 1  # the target refuses it anyway: never matched, never asked for
            else:
                records.append(item)
        counts["read"] += len(chunk)
        with state.connect() as conn:
            known = {row.code: row for row in conn.execute(
                select(cache).where(cache.c.code.in_([r.code for r in records])))} if records else {}
        t = timer.add("state: read cache", t)
        ready: list[tuple[Any, dict[str, Any] | None]] = []
        for r in records:
            row = known.get(r.code)
            if row is None:
                to_match.append(r)
            else:
                ready.append((r, {"clientLogin": row.login, "clientId": row.client_id} if row.login else None))
        new_cache = []
        full = len(to_match) if done else len(to_match) // 100 * 100
        if full:
            asked, to_match = to_match[:full], to_match[full:]
            fresh = target.match([r.code for r in asked])
            for r in asked:
                found = fresh.get(r.code)
                ready.append((r, found))
                new_cache.append({"code": r.code, "login": found["clientLogin"] if found else None,
                                  "client_id": str(found.get("clientId")) if found else None, "checked_at": now})
        t = timer.add("match: GET (cache misses)", t)
        with state.connect() as conn:
            keys = [r.key for r, m in ready if m is not None]
            old = dict(conn.execute(select(ledger.c.customer_key, ledger.c.payload).where(
                ledger.c.customer_key.in_(keys))).all()) if keys else {}
        t = timer.add("state: read ledger", t)
        for record, match in ready:
            if match is None:
                counts["unmatched"] += 1
                continue
            mode = modes.get(record.control_mode) or modes.setdefault(
                record.control_mode, degrade_mode(record.control_mode, native, policy))
            payload = target.payload(record, match, mode)
            text_ = dumps(payload)
            if old.get(record.key) == text_:
                counts["unchanged"] += 1
                continue
            to_send.append((record, match, mode, payload, text_))
        t = timer.add("diff (payload, canonical JSON, compare)", t)
        confirmed_rows = []
        full = len(to_send) if done else len(to_send) // 100 * 100
        sending, to_send = to_send[:full], to_send[full:]
        for i in range(0, len(sending), 100):
            batch = sending[i:i + 100]
            items = [OutgoingItem.model_construct(key=r.key, code=r.code, payload=p, match=m, record=r, mode=mode)
                     for r, m, mode, p, _ in batch]
            t = timer.add("diff (payload, canonical JSON, compare)", t)
            results = {res.key: res for res in target.write(items)}
            t = timer.add("write: PUT", t)
            for r, _m, _mode, _p, text_ in batch:
                res = results.get(r.key)
                if res is not None and res.status is ItemStatus.CONFIRMED:
                    confirmed_rows.append({"customer_key": r.key, "payload": text_})
                    counts["written"] += 1
                else:
                    counts["failed"] += 1
        if confirmed_rows or new_cache:
            with state.begin() as conn:
                if confirmed_rows:
                    stmt = insert(ledger)
                    conn.execute(stmt.on_conflict_do_update(index_elements=["customer_key"],
                                                            set_={"payload": stmt.excluded.payload}), confirmed_rows)
                if new_cache:
                    stmt = insert(cache)
                    conn.execute(stmt.on_conflict_do_update(index_elements=["code"], set_={
                        "login": stmt.excluded.login, "client_id": stmt.excluded.client_id,
                        "checked_at": stmt.excluded.checked_at}), new_cache)
            timer.add("state: write ledger + cache", t)
    source.close()
    target.close()
    state.dispose()
    total = time.perf_counter() - started
    print(json.dumps({"seconds": round(total, 3), "stages": {k: round(v, 3) for k, v in timer.seconds.items()},
                      "counts": dict(counts)}))
    return 0


def _take(stream: Iterator[Any], n: int) -> Iterator[Any]:
    for _ in range(n):
        try:
            yield next(stream)
        except StopIteration:
            return


if __name__ == "__main__":
    sys.exit(main())
