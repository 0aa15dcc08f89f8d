"""The data every sync benchmark runs on, and the plumbing around it (never timed).

* The ERP: an Optima demo database from the product's own generator (``make_demo_db``, 10 payments per
  customer, a fixed seed and base date), on SQLite or PostgreSQL. The generator already puts ~5 % of all
  cards in EUR/USD (10 % of the cards with a limit); the ~5 % of customers without a shop account are the
  stand-in shop's doing (every 20th active card has no account), so no post-processing of the ERP is needed.
* The shop's accounts: ``accounts.tsv`` for ``bench.shop``.
* The floor's inputs (``FloorPlan``): the product's own set-based statement with its parameters, captured
  from a real read, and the codes/values of the minimal requests, computed once from that read.
* State stores: a fresh one per first sync, their size, and the 1 % change applied to the ERP between runs.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench"
BASE_DATE = date(2026, 11, 20)
AS_OF = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SEED = 1
API_KEY = "bench-key-0c5e1f"
API_KEY_ENV = "TC_BENCH_IDOSELL_KEY"
PG_ADMIN = os.environ.get("TC_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CHANGE_EVERY = 100  # the 1 % change: cards with Knt_KntId % 100 == 0
NO_ACCOUNT_EVERY = 20  # every 20th active card has no shop account (~5 %)


def pg_url(database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_ADMIN).set(database=database).render_as_string(hide_password=False)


def _pg_admin() -> Any:
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")


def pg_available() -> bool:
    try:
        engine = _pg_admin()
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - no server: the PostgreSQL scenarios are skipped and the report says so
        return False


def pg_recreate(database: str) -> None:
    from sqlalchemy import text

    engine = _pg_admin()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    engine.dispose()


@dataclass
class Dataset:
    """One ERP database at one scale on one engine, with its shop accounts and floor plan."""

    customers: int
    engine: str  # "sqlite" | "postgresql"
    dir: Path
    erp_url: str = ""
    state_url: str = ""
    build_seconds: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.engine}-{self.customers}"

    @property
    def accounts(self) -> Path:
        return self.dir / "accounts.tsv"

    @property
    def plan_file(self) -> Path:
        return self.dir / "floor-plan.pickle"

    @property
    def config(self) -> Path:
        return self.dir / "tradecredit.toml"

    @property
    def state_file(self) -> Path | None:
        return self.dir / "state.db" if self.engine == "sqlite" else None


def prepare(customers: int, engine: str, log: Any = print) -> Dataset:
    """Build (or reuse) the ERP database, the accounts file and the floor plan for ``customers``."""
    from tradecredit.plugins.optima import make_demo_db

    ds = Dataset(customers, engine, WORK / f"{engine}-{customers}")
    ds.dir.mkdir(parents=True, exist_ok=True)
    stamp = ds.dir / "built.json"
    if engine == "sqlite":
        pristine = WORK / f"optima-{customers}.pristine.db"
        working = ds.dir / "optima.db"
        ds.erp_url = f"sqlite:///{working.as_posix()}"
        ds.state_url = f"sqlite:///{(ds.dir / 'state.db').as_posix()}"
        if not pristine.exists():
            log(f"  generating the Optima demo DB with {customers:,} customers (SQLite) …")
            stats = make_demo_db(f"sqlite:///{pristine.as_posix()}", customers, seed=SEED, base_date=BASE_DATE,
                                 replace=True)
            ds.build_seconds = stats.seconds
        shutil.copyfile(pristine, working)  # the 1 % scenario changes the ERP: every suite starts pristine
    else:
        database = f"tc_bench_optima_{customers}"
        ds.erp_url = pg_url(database)
        ds.state_url = pg_url(f"tc_bench_state_{customers}")
        # The 1 % scenario changes the ERP: a PostgreSQL ERP it touched ("dirty") is rebuilt, a clean one reused.
        dirty = ds.dir / "erp-changed"
        if dirty.exists() or not stamp.exists() or not _pg_has_cards(ds.erp_url, customers):
            log(f"  generating the Optima demo DB with {customers:,} customers (PostgreSQL) …")
            pg_recreate(database)
            stats = make_demo_db(ds.erp_url, customers, seed=SEED, base_date=BASE_DATE, replace=True)
            ds.build_seconds = stats.seconds
            dirty.unlink(missing_ok=True)
            stamp.unlink(missing_ok=True)  # a new database: derive the plan again
    fresh = stamp.exists() and ds.plan_file.exists() and ds.accounts.exists() and json.loads(
        stamp.read_text(encoding="utf-8")).get("product") == _product_hash()
    if not fresh:
        log("  reading it once to derive the shop accounts and the floor's requests …")
        ds.facts = {**_plan(ds), "product": _product_hash()}
        stamp.write_text(json.dumps(ds.facts), encoding="utf-8")
    else:
        ds.facts = json.loads(stamp.read_text(encoding="utf-8"))
    return ds


def _product_hash() -> str:
    """The code the floor's plan is derived from: a change there (rules, payload) derives the plan again."""
    import hashlib

    digest = hashlib.sha1(usedforsecurity=False)
    for folder in ("core", "plugins/optima", "plugins/idosell"):
        for path in sorted((ROOT / folder).glob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _pg_has_cards(url: str, customers: int) -> bool:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            n = conn.execute(text('SELECT COUNT(*) FROM "CDN"."Kontrahenci"')).scalar()
        engine.dispose()
        return n == customers
    except Exception:  # noqa: BLE001 - no such database yet
        return False


def _plan(ds: Dataset) -> dict[str, Any]:
    """Shop accounts + what the minimal sync has to send, from one real read with the product's source."""
    from sqlalchemy import event
    from tradecredit import AdapterContext, CreditRecord
    from tradecredit.plugins.optima import OptimaSource

    source = OptimaSource(OptimaSource.Options(url=ds.erp_url), AdapterContext(instance_name="optima"))
    captured: list[tuple[str, Any]] = []
    event.listen(source.engine, "before_cursor_execute",
                 lambda conn, cur, stmt, params, ctx, many: captured.append((stmt, params)))
    # code, erp_id, login-or-None, limit, balance for every writable record (PLN: the shop's currency)
    writable: list[tuple[str, int, str | None, float, float]] = []
    rejected = other_currency = records = 0
    accounts = []
    from tradecredit.core.engine import degrade_mode
    from tradecredit.plugins.idosell.target import IdoSellOptions, IdoSellTarget

    target = IdoSellTarget(IdoSellOptions(base_url="http://127.0.0.1", api_key="x"),
                           AdapterContext(instance_name="shop"))
    modes: dict[Any, Any] = {}
    active_index = 0
    for item in source.read(AS_OF):
        if not isinstance(item, CreditRecord):
            rejected += 1
            continue
        records += 1
        has_account = active_index % NO_ACCOUNT_EVERY != 7
        active_index += 1
        login = f"login_{item.code.lower()}" if has_account else None
        if login:
            accounts.append((item.code, login))
        if item.currency != "PLN":
            other_currency += 1
            continue
        mode = modes.get(item.control_mode) or modes.setdefault(
            item.control_mode, degrade_mode(item.control_mode, target.native_modes, target.mode_policy()))
        payload = target.payload(item, {"clientLogin": login or ""}, mode)
        writable.append((item.code, int(item.erp_id), login, float(payload["clientTradeCreditLimitExternal"]),
                         float(payload["clientBalanceAmountExternal"])))
    source.close()
    read_sql = [c for c in captured if "Kontrahenci" in c[0] and "BnkZdarzenia" in c[0]]
    statement, params = read_sql[-1]
    with ds.plan_file.open("wb") as f:
        pickle.dump({"engine": ds.engine, "sql": statement, "params": params, "writable": writable}, f)
    with ds.accounts.open("w", encoding="utf-8") as f:
        f.writelines(f"{code}\t{login}\n" for code, login in accounts)
    matched = [w for w in writable if w[2]]
    changed = [w for w in matched if w[1] % CHANGE_EVERY == 0]
    return {"customers": ds.customers, "records": records, "rejected_by_source": rejected,
            "other_currency": other_currency, "writable": len(writable), "shop_accounts": len(accounts),
            "matched_writable": len(matched), "changed_1pct": len(changed)}


def write_config(ds: Dataset, shop_url: str) -> None:
    ds.config.write_text(f"""# written by bench/workload.py
[state]
url = "{ds.state_url}"

[sources.optima]
plugin = "optima"
url = "{ds.erp_url}"

[targets.shop]
plugin = "idosell"
base_url = "{shop_url}"
api_key = {{ env = "{API_KEY_ENV}" }}

[[pipelines]]
name = "bench"
source = "optima"
target = "shop"
""", encoding="utf-8")


def reset_state(ds: Dataset) -> None:
    """An empty state store: the next run is a first sync."""
    if ds.engine == "sqlite":
        assert ds.state_file is not None
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{ds.state_file}{suffix}").unlink(missing_ok=True)
    else:
        pg_recreate(ds.state_url.rsplit("/", 1)[1])


def state_size(ds: Dataset) -> dict[str, Any]:
    """Bytes on disk of the state store and rows per table."""
    from sqlalchemy import create_engine, text

    engine = create_engine(ds.state_url)
    tables = ["tc_runs", "tc_ledger", "tc_run_items", "tc_cache", "tc_locks"]
    rows: dict[str, int] = {}
    with engine.connect() as conn:
        for t in tables:
            try:
                rows[t] = int(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() or 0)
            except Exception:  # noqa: BLE001 - a table another version of the schema does not have
                conn.rollback()
        report_bytes = int(conn.execute(text("SELECT COALESCE(SUM(LENGTH(report)), 0) FROM tc_runs")).scalar() or 0)
        if ds.engine == "postgresql":
            size = int(conn.execute(text(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
            )).scalar() or 0)
    engine.dispose()
    if ds.engine == "sqlite":
        assert ds.state_file is not None
        con = sqlite3.connect(ds.state_file)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        size = sum(Path(f"{ds.state_file}{s}").stat().st_size for s in ("", "-wal")
                   if Path(f"{ds.state_file}{s}").exists())
    return {"bytes": size, "rows": rows, "report_bytes": report_bytes}


def change_one_percent(ds: Dataset, step: int) -> None:
    """What a day of payments does: 1 % of the cards' stored 'Limit wykorzystany' moves by 1.00 zł."""
    from sqlalchemy import create_engine, text

    if ds.engine == "postgresql":
        (ds.dir / "erp-changed").touch()
    engine = create_engine(ds.erp_url)
    table = '"CDN"."Kontrahenci"' if ds.engine == "postgresql" else '"Kontrahenci"'
    with engine.begin() as conn:
        if ds.engine == "sqlite":  # amounts are exact decimal text there
            conn.execute(text(
                f'UPDATE {table} SET "Knt_LimitKredytuWykorzystany" = '
                f'printf(\'%.2f\', CAST("Knt_LimitKredytuWykorzystany" AS REAL) + 1) '
                f'WHERE "Knt_KntId" % {CHANGE_EVERY} = 0'))
        else:
            conn.execute(text(
                f'UPDATE {table} SET "Knt_LimitKredytuWykorzystany" = "Knt_LimitKredytuWykorzystany" + 1 '
                f'WHERE "Knt_KntId" % {CHANGE_EVERY} = 0'))
    engine.dispose()
    del step
