"""The state store: runs, the per-customer ledger, the audit trail of run items, run locks and a small cache.

SQLAlchemy Core on any URL; the default is an embedded SQLite file. The ledger holds, per pipeline, target
and customer, the last payload the shop *confirmed*: it makes reruns cheap, drives retries of exactly the
failed customers and gives the dry-run diff. Locks live here too (no POSIX file locks: the runner must work
on Windows servers). The schema is versioned; migrations run forward on open, and a store written by a newer
tradecredit is refused loudly rather than reset. Dry runs and inspections open the store read-only: nothing is
created or migrated, and a missing or not yet migrated store reads as empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .adapters import CheckResult, CheckStatus
from .batches import chunks
from .errors import ConfigError, LockHeldError, StateError
from .secrets import mask

SCHEMA_VERSION = 1

metadata = MetaData()

meta = Table(
    "tc_meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "tc_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline", String(200), nullable=False, index=True),
    Column("source", String(200), nullable=False),
    Column("target", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(20), nullable=False),
    Column("full_refresh", Boolean, nullable=False, default=False),
    Column("counts", Text),
    Column("error", Text),
    Column("report", Text),
)

ledger = Table(
    "tc_ledger",
    metadata,
    Column("pipeline", String(200), primary_key=True),
    Column("target", String(200), primary_key=True),
    Column("customer_key", String(200), primary_key=True),
    Column("code", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=False),
    Column("run_id", Integer, nullable=False),
)

run_items = Table(
    "tc_run_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False, index=True),
    Column("customer_key", String(200)),
    Column("code", String(200)),
    Column("outcome", String(20), nullable=False),
    Column("reason", Text),
    Column("payload", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)

locks = Table(
    "tc_locks",
    metadata,
    Column("pipeline", String(200), primary_key=True),
    Column("run_id", Integer, nullable=False),
    Column("holder", String(300), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
)

cache = Table(
    "tc_cache",
    metadata,
    Column("namespace", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def _migration_1(conn: Connection) -> None:
    for table in (runs, ledger, run_items, locks, cache):
        table.create(conn, checkfirst=True)


# version → step; append new steps, never edit old ones.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _migration_1}


def _version_in(conn: Connection) -> int:
    if not inspect(conn).has_table(meta.name):
        return 0
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    try:
        return int(value or 0)
    except ValueError:
        raise StateError(f"the state store is corrupt: schema_version is {value!r}") from None


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def dumps(payload: Any) -> str:
    """Canonical JSON: the same payload always gives the same text (so the ledger diff is exact)."""
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _loads(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise StateError(f"the state store is corrupt: {what} is not valid JSON ({exc})") from None


@dataclass(frozen=True)
class LedgerEntry:
    """The last confirmed payload of one customer, kept as canonical JSON text.

    Comparing texts is enough to know a customer is unchanged; the payload is decoded only when it is
    needed (a changed customer's plan), and a corrupt entry then raises ``StateError``.
    """

    code: str
    payload_text: str

    @property
    def payload(self) -> dict[str, Any]:
        value = _loads(self.payload_text, f"ledger entry {self.code!r}")
        if not isinstance(value, dict):
            raise StateError(f"the state store is corrupt: ledger entry {self.code!r} is not a JSON object")
        return value


@dataclass(frozen=True)
class ItemRecord:
    """One line of the audit trail."""

    key: str | None
    code: str | None
    outcome: str  # written | unchanged | failed | rejected | unmatched | unsupported
    reason: str | None = None
    payload: Mapping[str, Any] | None = None


class StateStore:
    """All reads and writes of tradecredit's own state.

    ``read_only`` stores (dry runs, inspection) refuse every write, and read as empty when the store does not
    exist yet or its schema is older than this tradecredit's (``empty``): only a real run migrates.
    """

    def __init__(self, engine: Engine, *, read_only: bool = False, exists: bool = True) -> None:
        self.engine = engine
        self.read_only = read_only
        self.exists = exists  # False: a SQLite file that is not there (an empty in-memory stand-in is used)
        self.empty = False

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, read_only: bool = False) -> StateStore:
        """Open the store; migrate it forward unless ``migrate=False`` or ``read_only=True``.

        A read-only open creates nothing: not the SQLite file, not its folder, not a table.
        """
        store = cls._connect(url, read_only=read_only)
        if read_only:
            version = store.schema_version()
            _refuse_newer(version)
            store.empty = version < SCHEMA_VERSION
        elif migrate:
            store.migrate()
        return store

    @classmethod
    def _connect(cls, url: str, *, read_only: bool) -> StateStore:
        try:
            parsed = make_url(url)
        except Exception:  # noqa: BLE001
            raise ConfigError(f"state.url: {mask(url)!r} is not a database URL") from None
        file = _sqlite_file(parsed)
        exists = True
        if file is not None and read_only and not file.exists():
            # Connecting would create the file: an empty in-memory database stands in for it instead.
            parsed, exists = make_url("sqlite://"), False
        elif file is not None and not read_only:
            file.parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = create_engine(parsed, pool_pre_ping=True)
        except Exception as exc:  # noqa: BLE001 - e.g. a missing driver
            raise ConfigError(f"state.url: cannot use {mask(url)}: {mask(exc)}") from None
        if engine.dialect.name == "sqlite":
            # journal_mode=WAL persists in the file, so a read-only store must not set it.
            event.listen(engine, "connect", _sqlite_busy_timeout if read_only else _sqlite_pragmas)
        return cls(engine, read_only=read_only, exists=exists)

    def close(self) -> None:
        self.engine.dispose()

    def _writable(self) -> None:
        # A guard, not a feature: a dry run that tried to write would be a bug, and it must not go unnoticed.
        if self.read_only:
            raise StateError("the state store is open read-only (dry run or inspection); nothing may be written")

    # --- schema ----------------------------------------------------------------------------------------
    def schema_version(self) -> int:
        try:
            with self.engine.connect() as conn:
                return _version_in(conn)
        except SQLAlchemyError as exc:
            raise StateError(f"cannot read the state store: {mask(exc)}") from None

    def migrate(self) -> int:
        """Bring the schema to ``SCHEMA_VERSION``. Safe when several runners start on a fresh store at once."""
        self._writable()
        for attempt in range(5):
            current = self.schema_version()
            _refuse_newer(current)
            if current == SCHEMA_VERSION:
                return current
            try:
                self._migrate_from(current)
            except SQLAlchemyError:
                # Another runner migrated at the same moment: re-read the version and go on from there.
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return self.schema_version()

    def _migrate_from(self, current: int) -> None:
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(7231001)"))  # serialise concurrent migrations
                if _version_in(conn) >= version:
                    continue
                meta.create(conn, checkfirst=True)
                MIGRATIONS[version](conn)
                conn.execute(delete(meta).where(meta.c.key == "schema_version"))
                conn.execute(insert(meta).values(key="schema_version", value=str(version)))

    # --- runs ------------------------------------------------------------------------------------------
    def start_run(self, pipeline: str, source: str, target: str, *, full_refresh: bool) -> int:
        self._writable()
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(runs).values(
                    pipeline=pipeline, source=source, target=target, started_at=utcnow(),
                    status="running", full_refresh=full_refresh,
                )
            )
            key = result.inserted_primary_key
            assert key is not None  # an INSERT of one row always returns its key
            return int(key[0])

    def finish_run(
        self, run_id: int, status: str, counts: Mapping[str, int], *, error: str | None = None,
        report: Mapping[str, Any] | None = None,
    ) -> None:
        self._writable()
        with self.engine.begin() as conn:
            conn.execute(
                update(runs).where(runs.c.id == run_id).values(
                    finished_at=utcnow(), status=status, counts=dumps(dict(counts)),
                    error=mask(error) if error else None, report=mask(dumps(report)) if report else None,
                )
            )

    def history(self, pipeline: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        if self.empty:
            return []
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if pipeline:
            query = query.where(runs.c.pipeline == pipeline)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for row in rows:
            item = dict(row)
            item["counts"] = _loads(item["counts"], f"run {row['id']} counts") if item["counts"] else {}
            item["report"] = None  # large; fetch with run_report()
            item["started_at"] = _aware(item["started_at"])
            item["finished_at"] = _aware(item["finished_at"])
            out.append(item)
        return out

    def run_items(self, run_id: int) -> list[dict[str, Any]]:
        if self.empty:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(select(run_items).where(run_items.c.run_id == run_id).order_by(run_items.c.id))
            return [dict(r) for r in rows.mappings()]

    # --- ledger ----------------------------------------------------------------------------------------
    def load_ledger(self, pipeline: str, target: str) -> dict[str, LedgerEntry]:
        if self.empty:
            return {}
        query = select(ledger.c.customer_key, ledger.c.code, ledger.c.payload).where(
            ledger.c.pipeline == pipeline, ledger.c.target == target
        )
        with self.engine.connect() as conn:
            return {key: LedgerEntry(code, text) for key, code, text in conn.execute(query)}

    def record_batch(
        self, run_id: int, pipeline: str, target: str, confirmed: Sequence[tuple[str, str, Mapping[str, Any]]],
        items: Iterable[ItemRecord],
    ) -> None:
        """In one transaction: move the ledger forward for confirmed customers and append the audit trail."""
        self._writable()
        now = utcnow()
        with self.engine.begin() as conn:
            keys = [k for k, _, _ in confirmed]
            for chunk in chunks(keys, 500):
                conn.execute(
                    delete(ledger).where(
                        ledger.c.pipeline == pipeline, ledger.c.target == target, ledger.c.customer_key.in_(chunk)
                    )
                )
            if confirmed:
                conn.execute(
                    insert(ledger),
                    [
                        {"pipeline": pipeline, "target": target, "customer_key": key, "code": code,
                         "payload": dumps(payload), "confirmed_at": now, "run_id": run_id}
                        for key, code, payload in confirmed
                    ],
                )
            rows = [
                {"run_id": run_id, "customer_key": i.key, "code": i.code, "outcome": i.outcome,
                 "reason": mask(i.reason) if i.reason else None,
                 "payload": dumps(i.payload) if i.payload is not None else None, "at": now}
                for i in items
            ]
            if rows:
                conn.execute(insert(run_items), rows)

    def forget_customers(self, pipeline: str, target: str, keys: Sequence[str]) -> None:
        """Drop ledger entries so the next run sends these customers again."""
        self._writable()
        with self.engine.begin() as conn:
            for chunk in chunks(list(keys), 500):
                conn.execute(
                    delete(ledger).where(
                        ledger.c.pipeline == pipeline, ledger.c.target == target, ledger.c.customer_key.in_(chunk)
                    )
                )

    # --- locks -----------------------------------------------------------------------------------------
    def acquire_lock(self, pipeline: str, run_id: int, *, stale_after: timedelta) -> None:
        self._writable()
        holder = f"{platform.node()} pid {os.getpid()} run {run_id}"
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(locks).values(pipeline=pipeline, run_id=run_id, holder=holder, acquired_at=now))
            return
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            row = conn.execute(select(locks).where(locks.c.pipeline == pipeline)).mappings().first()
            if row is None:  # released in between: try once more
                conn.execute(insert(locks).values(pipeline=pipeline, run_id=run_id, holder=holder, acquired_at=now))
                return
            acquired = _aware(row["acquired_at"])
            if acquired is not None and now - acquired > stale_after:
                taken = conn.execute(
                    update(locks)
                    .where(locks.c.pipeline == pipeline, locks.c.run_id == row["run_id"])
                    .values(run_id=run_id, holder=holder, acquired_at=now)
                )
                if taken.rowcount == 1:
                    return
            raise LockHeldError(
                f"pipeline {pipeline!r} is already running ({row['holder']}, since {acquired:%Y-%m-%d %H:%M:%S} UTC);"
                f" a lock older than {stale_after} is taken over automatically"
            )

    def release_lock(self, pipeline: str, run_id: int) -> None:
        self._writable()
        with self.engine.begin() as conn:
            conn.execute(delete(locks).where(locks.c.pipeline == pipeline, locks.c.run_id == run_id))

    # --- cache -----------------------------------------------------------------------------------------
    def cache_get(self, namespace: str, keys: list[str]) -> dict[str, Any]:
        if self.empty:
            return {}
        out: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(keys, 500):
                query = select(cache.c.key, cache.c.value).where(cache.c.namespace == namespace, cache.c.key.in_(chunk))
                for key, value in conn.execute(query):
                    out[key] = _loads(value, f"cache entry {namespace}/{key}")
        return out

    def cache_put(self, namespace: str, values: Mapping[str, Any]) -> None:
        self._writable()
        if not values:
            return
        now = utcnow()
        with self.engine.begin() as conn:
            for chunk in chunks(list(values), 500):
                conn.execute(delete(cache).where(cache.c.namespace == namespace, cache.c.key.in_(chunk)))
            conn.execute(
                insert(cache),
                [{"namespace": namespace, "key": k, "value": dumps(v), "updated_at": now} for k, v in values.items()],
            )

    def cache_delete(self, namespace: str, keys: list[str]) -> None:
        self._writable()
        with self.engine.begin() as conn:
            for chunk in chunks(keys, 500):
                conn.execute(delete(cache).where(cache.c.namespace == namespace, cache.c.key.in_(chunk)))

    def count(self, table: Table) -> int:
        if self.empty:
            return 0
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


class StateCache:
    """The ``KeyValueCache`` a target sees: namespaced to its instance; read-only during dry runs."""

    def __init__(self, store: StateStore, prefix: str, *, read_only: bool = False) -> None:
        self.store, self.prefix, self.read_only = store, prefix, read_only

    def get_many(self, namespace: str, keys: list[str]) -> dict[str, Any]:
        return self.store.cache_get(f"{self.prefix}:{namespace}", keys)

    def put_many(self, namespace: str, values: Mapping[str, Any]) -> None:
        if not self.read_only:
            self.store.cache_put(f"{self.prefix}:{namespace}", values)

    def delete(self, namespace: str, keys: list[str]) -> None:
        if not self.read_only:
            self.store.cache_delete(f"{self.prefix}:{namespace}", keys)


def check_state(url: str, *, lock_timeout: timedelta | None = None) -> list[CheckResult]:
    """The ``[state]`` lines of ``tradecredit check``: reachable, schema version, lock table. Changes nothing."""
    store = StateStore._connect(url, read_only=True)  # a bad URL or missing driver is a ConfigError
    try:
        if not store.exists:
            return [CheckResult(name="reachable", status=CheckStatus.WARN,
                                detail="the SQLite file does not exist yet; the first run creates it")]
        try:
            with store.engine.connect():
                pass
        except SQLAlchemyError as exc:
            return [CheckResult(name="reachable", status=CheckStatus.FAIL, detail=mask(exc))]
        results = [CheckResult(name="reachable", status=CheckStatus.OK, detail=store.engine.dialect.name)]
        try:
            version = store.schema_version()
            _refuse_newer(version)
        except StateError as exc:
            return [*results, CheckResult(name="schema", status=CheckStatus.FAIL, detail=str(exc))]
        if version < SCHEMA_VERSION:
            results.append(CheckResult(
                name="schema", status=CheckStatus.WARN,
                detail=f"version {version}, this tradecredit uses {SCHEMA_VERSION}: migrations pending, "
                "the next run (not a dry run) applies them",
            ))
        else:
            results.append(CheckResult(name="schema", status=CheckStatus.OK, detail=f"version {version} (current)"))
        results.append(_check_locks(store, version, lock_timeout))
        return results
    finally:
        store.close()


def _check_locks(store: StateStore, version: int, lock_timeout: timedelta | None) -> CheckResult:
    try:
        with store.engine.connect() as conn:
            if not inspect(conn).has_table(locks.name):
                if version < SCHEMA_VERSION:
                    return CheckResult(name="locks", status=CheckStatus.WARN,
                                       detail="lock table missing; the pending migrations create it")
                return CheckResult(name="locks", status=CheckStatus.FAIL,
                                   detail=f"lock table {locks.name} is missing although the schema is current")
            held = conn.execute(select(locks).order_by(locks.c.pipeline)).mappings().all()
    except SQLAlchemyError as exc:
        return CheckResult(name="locks", status=CheckStatus.FAIL, detail=mask(exc))
    if not held:
        return CheckResult(name="locks", status=CheckStatus.OK, detail="lock table present, no run in progress")
    now = utcnow()
    stale = [r for r in held if lock_timeout is not None and now - (_aware(r["acquired_at"]) or now) > lock_timeout]
    described = "; ".join(
        f"{r['pipeline']} by {r['holder']} since {_aware(r['acquired_at']):%Y-%m-%d %H:%M:%S} UTC" for r in held
    )
    if stale:
        return CheckResult(
            name="locks", status=CheckStatus.WARN,
            detail=f"{described}; {len(stale)} older than lock_timeout (a crashed run?), taken over by the next run",
        )
    return CheckResult(name="locks", status=CheckStatus.OK, detail=f"lock table present; held: {described}")


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StateError(
            f"the state store has schema version {version}, newer than this tradecredit understands "
            f"({SCHEMA_VERSION}); upgrade tradecredit instead of pointing an old one at it"
        )


def _sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None (another backend, in-memory, or a ``file:`` URI we leave alone)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or url.query.get("uri"):
        return None
    return Path(url.database)


def _sqlite_busy_timeout(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")  # wait for a writer instead of failing
    cur.close()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    _sqlite_busy_timeout(dbapi_conn, _record)  # first, so that everything after it waits instead of failing
    cur = dbapi_conn.cursor()
    # Concurrent readers while a run writes. It persists in the file; if another connection is switching it
    # right now, that one wins and the file is WAL all the same.
    with contextlib.suppress(Exception):
        cur.execute("PRAGMA journal_mode=WAL")
    cur.close()
