"""The state store: runs, the per-customer ledger, the audit trail of run items, run leases and a small cache.

SQLAlchemy Core on any URL; the default is an embedded SQLite file. The ledger holds, per pipeline, target
and customer, the last payload the shop *confirmed*: it makes reruns cheap, drives retries of exactly the
failed customers and gives the dry-run diff. Run leases live here too (no POSIX file locks: the runner must
work on Windows servers); see ``core.lease`` for the heartbeat and the liveness of a holder. The schema is
versioned; migrations run forward on open, and a store written by a newer tradecredit is refused loudly rather
than reset. Dry runs and inspections open the store read-only: nothing is created or migrated, and a missing
or not yet migrated store reads as empty.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
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
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    any_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .adapters import CheckResult, CheckStatus
from .batches import chunks
from .book import CREDIT_KEYS, REASON_KEYS
from .errors import ConfigError, LockHeldError, StateError
from .lease import Holder, Lease, LeaseLostError, process_gone
from .records import normalise_code
from .secrets import mask

SCHEMA_VERSION = 3

log = logging.getLogger(__name__)

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
    # v2: what the audit trail of this run left out because it was already recorded (JSON; see record_outcomes)
    Column("trail", Text),
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
    # v3: what a row changed and why (JSON: {"changes": [{field, old, new, reason}], "credit": {…}}; ItemRecord)
    Column("detail", Text),
)

locks = Table(
    "tc_locks",
    metadata,
    Column("pipeline", String(200), primary_key=True),
    Column("run_id", Integer, nullable=False),
    Column("holder", String(300), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    # v2: the lock is a lease. NULL in rows written by a v1 tradecredit (never renewed: see _legacy_holder).
    Column("host", String(255)),
    Column("pid", Integer),
    Column("proc_started", Float),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
    Column("beats", Integer),  # renewals so far: a takeover only wins against the exact renewal it looked at
)

# v2: the last sticky outcome (rejected, unmatched, …) recorded in the audit trail per customer, so that a run
# repeats no audit row for a customer whose outcome did not change.
outcomes = Table(
    "tc_outcomes",
    metadata,
    Column("pipeline", String(200), primary_key=True),
    Column("target", String(200), primary_key=True),
    Column("ident", String(200), primary_key=True),
    Column("code", String(200)),
    Column("outcome", String(20), nullable=False),
    Column("reason", Text),
    Column("run_id", Integer, nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
)

# v2: lease takeovers and forced unlocks, for operators and for the one-writer proof.
lease_events = Table(
    "tc_lease_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline", String(200), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("event", String(20), nullable=False),  # takeover | unlock
    Column("run_id", Integer),  # the run that took the lease over (None for unlock)
    Column("previous_run_id", Integer, nullable=False),
    Column("previous_holder", String(300), nullable=False),
    Column("reason", Text, nullable=False),
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


def _add_missing_columns(conn: Connection, table: Table, names: Sequence[str]) -> None:
    # Migration 1 creates tables from the current definitions, so on a fresh store these columns exist already.
    present = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for name in names:
        if name not in present:
            column = table.c[name]
            ddl = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {ddl}"))


def _migration_2(conn: Connection) -> None:
    """Locks become leases (heartbeat, expiry, holder identity); sticky outcomes; lease events; run trail."""
    _add_missing_columns(conn, locks, ["host", "pid", "proc_started", "heartbeat_at", "expires_at", "beats"])
    _add_missing_columns(conn, runs, ["trail"])
    for table in (outcomes, lease_events):
        table.create(conn, checkfirst=True)
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_tc_runs_pipeline_id ON tc_runs (pipeline, id)"))


def _migration_3(conn: Connection) -> None:
    """The audit trail keeps old → new and the reason of every written value; a customer's history is indexed."""
    _add_missing_columns(conn, run_items, ["detail"])
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_tc_run_items_customer ON tc_run_items (customer_key, id)"))


# version → step; append new steps, never edit old ones.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _migration_1, 2: _migration_2, 3: _migration_3}

STICKY_OUTCOMES = frozenset({"rejected", "unmatched", "unsupported"})
"""Outcomes that repeat run after run while nothing changes: recorded once per customer, then counted."""

REPORT_LIST_CAP = 50
"""Entries kept of each list of a run report saved in ``tc_runs`` (the rest is counted): state stays small."""


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


def _item_dict(row: Any) -> dict[str, Any]:
    item = dict(row)
    detail = item.get("detail")
    payload = _loads(item["payload"], f"audit row {item.get('id')} payload") if detail and item.get("payload") else None
    item["detail"] = _expand_detail(_loads(detail, f"audit row {item.get('id')} detail"), payload) if detail else None
    item["at"] = _aware(item["at"])
    return item


@dataclass(frozen=True)
class LeaseInfo:
    """A lease as ``check``, ``state unlock`` and ``state leases`` show it."""

    pipeline: str
    run_id: int
    holder: str
    detail: str  # holder, since when, last renewal
    dead: str | None  # why its holder is dead (taken over by the next run), or None: live


_LEGACY_HOLDER = re.compile(r"^(?P<host>.*) pid (?P<pid>\d+) run \d+$")


def _lease_holder(row: Any) -> Holder:
    if row.get("host") is not None:
        return Holder(row["host"], int(row["pid"] or 0), row.get("proc_started"))
    # A lock written by tradecredit 1 (schema v1): "host pid N run M".
    match = _LEGACY_HOLDER.match(str(row["holder"]))
    return Holder(match["host"], int(match["pid"]), None) if match else Holder("?", 0, None)


def _record_lease_end(
    conn: Connection, row: Any, event: str, run_id: int | None, reason: str, now: datetime
) -> None:
    """A lease changed hands without its holder (takeover, forced unlock): the event, and the run abandoned."""
    conn.execute(insert(lease_events).values(
        pipeline=row["pipeline"], at=now, event=event, run_id=run_id, previous_run_id=row["run_id"],
        previous_holder=row["holder"], reason=reason,
    ))
    conn.execute(update(runs).where(runs.c.id == row["run_id"], runs.c.status == "running")
                 .values(status="abandoned", finished_at=now, error=f"abandoned: {reason}"))


def dead_lease_reason(row: Any, now: datetime, timeout: timedelta | None) -> str | None:
    """Why the lease in ``row`` is dead and may be taken over, or None while its holder is alive.

    Dead: its expiry passed (not renewed within the holder's own ``lease_timeout``; a v1 lock, which is never
    renewed, expires ``timeout`` after it was taken), or its holder is on this host and its process is gone.
    """
    holder = _lease_holder(row)
    if process_gone(holder):
        return f"the holder's process {holder.pid} on {holder.host} is gone"
    expires = _aware(row.get("expires_at"))
    if expires is None and timeout is not None:
        expires = (_aware(row["acquired_at"]) or now) + timeout
    if expires is not None and now > expires:
        renewed = _aware(row.get("heartbeat_at")) or _aware(row["acquired_at"]) or now
        return f"its lease was not renewed since {renewed:%Y-%m-%d %H:%M:%S} UTC (expired {expires:%H:%M:%S} UTC)"
    return None


def describe_lease(row: Any, now: datetime) -> str:
    acquired = _aware(row["acquired_at"]) or now
    text = f"{row['holder']}, since {acquired:%Y-%m-%d %H:%M:%S} UTC"
    renewed = _aware(row.get("heartbeat_at"))
    if renewed is not None:
        text += f", renewed {max(0.0, (now - renewed).total_seconds()):.0f} s ago"
    return text


def capped_report(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A run report as saved with the run: each list cut to ``REPORT_LIST_CAP`` entries, the rest counted (added
    to what the run report had counted beyond its own, larger limit already)."""
    if report is None:
        return None
    out = dict(report)
    for key, value in report.items():
        if isinstance(value, list) and len(value) > REPORT_LIST_CAP:
            out[key] = value[:REPORT_LIST_CAP]
            out[f"{key}_truncated"] = int(report.get(f"{key}_truncated") or 0) + len(value) - REPORT_LIST_CAP
    return out


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
    payload: Mapping[str, Any] | str | None = None  # a str is the payload's canonical JSON (``dumps``) already
    # v3: {"changes": [{field, old, new, reason}], "credit": {…}} (written), {"reason_code": …} (unsupported)
    detail: Mapping[str, Any] | None = None


def _item_detail(item: ItemRecord) -> str | None:
    """The detail column, compact: a first write keeps only each field's reason (its new values are the row's
    payload, its old ones unknown), a later one ``[field, old, new, reason]`` rows; the engine's verdict is a
    list in ``CREDIT_KEYS`` order. Not masked, like the payload next to it: it holds only values derived from the
    record (masking every row's text would cost as much as the write itself).
    """
    if not item.detail:
        return None
    detail = dict(item.detail)
    rows = detail.pop("changes", None)
    if rows is not None:
        if rows and not any(r.get("known_old", True) for r in rows):
            detail["r"] = {r["field"]: r.get("reason") for r in rows}
        else:
            detail["c"] = [[r["field"], r["old"], r["new"], r.get("reason")] for r in rows]
    credit = detail.pop("credit", None)
    if credit is not None:
        reasons = credit.get("reasons") or {}
        detail["k"] = [credit.get(key) if key != "reasons" else [reasons.get(r) for r in REASON_KEYS]
                       for key in CREDIT_KEYS]
    return dumps(detail)


def _expand_detail(detail: dict[str, Any], payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """``_item_detail`` backwards: ``changes`` as ``{field, old, new, known_old, reason}`` rows, ``credit`` a dict."""
    if "r" in detail:
        new = payload or {}
        detail["changes"] = [{"field": f, "old": None, "new": new.get(f), "known_old": False, "reason": why}
                             for f, why in detail.pop("r").items()]
    if "c" in detail:
        detail["changes"] = [{"field": f, "old": old, "new": new, "known_old": True, "reason": why}
                             for f, old, new, why in detail.pop("c")]
    if "k" in detail:
        credit = dict(zip(CREDIT_KEYS, detail.pop("k"), strict=False))
        credit["reasons"] = dict(zip(REASON_KEYS, credit.get("reasons") or (), strict=False))
        detail["credit"] = credit
    return detail



def _text(payload: Mapping[str, Any] | str) -> str:
    return payload if isinstance(payload, str) else dumps(payload)


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
    """Insert ``rows``, replacing rows with the same primary key: one ``INSERT … ON CONFLICT DO UPDATE``.

    No delete-then-insert: the conflict is resolved through the primary key index, so the cost does not depend
    on the planner's estimates (an unanalysed PostgreSQL table planned ``DELETE … IN`` as a filter over all of
    the pipeline's rows, quadratic over a first sync). Other dialects fall back to delete + insert.
    """
    if not rows:
        return
    name = conn.dialect.name
    columns = [c for c in rows[0] if c not in keys]
    if name == "sqlite":
        lite = sqlite_insert(table)
        conn.execute(lite.on_conflict_do_update(
            index_elements=list(keys), set_={c: lite.excluded[c] for c in columns}), rows)
        return
    if name == "postgresql":
        pg = pg_insert(table)
        conn.execute(pg.on_conflict_do_update(
            index_elements=list(keys), set_={c: pg.excluded[c] for c in columns}), rows)
        return
    for row in rows:
        conn.execute(delete(table).where(*(table.c[k] == row[k] for k in keys)))
    conn.execute(insert(table), rows)


def _one_of(conn: Connection, column: Any, values: list[str]) -> Any:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``: one parameter, not hundreds to render."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(f"{column.name}_any", values, type_=PG_ARRAY(String)))
    return column.in_(values)


def _fast_commit(conn: Connection) -> None:
    """PostgreSQL: this transaction's commit does not wait for the WAL flush (SQLite: ``synchronous=NORMAL``).

    Safe for the ledger: a commit lost in a database crash only makes the next run send those confirmed
    customers again, it never skips one; the lease's fencing check still runs inside the transaction.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit = off"))


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
        self._leases: dict[str, Lease] = {}  # pipeline → the lease this store granted and has not released
        self._lease_guard = threading.Lock()

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
        for lease in list(self._leases.values()):
            lease.release()
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
        """Record how a run ended. The saved report keeps the first ``REPORT_LIST_CAP`` entries of each list
        (``<list>_truncated`` counts the rest): a run row's size does not grow with the customer count."""
        self._writable()
        with self.engine.begin() as conn:
            conn.execute(
                update(runs).where(runs.c.id == run_id).values(
                    finished_at=utcnow(), status=status, counts=dumps(dict(counts)),
                    error=mask(error) if error else None,
                    report=mask(dumps(capped_report(report))) if report else None,
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
        """The audit rows of one run; ``detail`` decoded (None in rows written before schema v3)."""
        if self.empty:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(select(run_items).where(run_items.c.run_id == run_id).order_by(run_items.c.id))
            return [_item_dict(r) for r in rows.mappings()]

    def customer_items(self, code: str, pipeline: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """A customer's audit rows, newest first, with their run's pipeline and target (``tradecredit history``)."""
        if self.empty:
            return []
        key = normalise_code(code)
        query = (
            select(run_items, runs.c.pipeline, runs.c.target, runs.c.status.label("run_status"))
            .join(runs, runs.c.id == run_items.c.run_id)
            .where(or_(run_items.c.customer_key == key, run_items.c.code == code))
            .order_by(run_items.c.id.desc()).limit(limit)
        )
        if pipeline:
            query = query.where(runs.c.pipeline == pipeline)
        with self.engine.connect() as conn:
            return [_item_dict(r) for r in conn.execute(query).mappings()]

    def run(self, run_id: int) -> dict[str, Any] | None:
        """One run row with its counts and its saved report decoded (None: no such run)."""
        if self.empty:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        if row is None:
            return None
        item = dict(row)
        item["counts"] = _loads(item["counts"], f"run {run_id} counts") if item["counts"] else {}
        item["report"] = _loads(item["report"], f"run {run_id} report") if item["report"] else None
        item["started_at"], item["finished_at"] = _aware(item["started_at"]), _aware(item["finished_at"])
        return item

    def book(self, pipeline: str | None = None, *, key: str | None = None) -> list[dict[str, Any]]:
        """Every customer the shops confirmed (the ledger), with the audit row of the write that confirmed it
        (its ``detail``: the engine's verdict then; None when that run was pruned or predates schema v3)."""
        if self.empty:
            return []
        query = (
            select(ledger, run_items.c.detail, run_items.c.at.label("written_at"))
            .outerjoin(run_items, (run_items.c.run_id == ledger.c.run_id)
                       & (run_items.c.customer_key == ledger.c.customer_key) & (run_items.c.outcome == "written"))
            .order_by(ledger.c.pipeline, ledger.c.code)
        )
        if pipeline:
            query = query.where(ledger.c.pipeline == pipeline)
        if key is not None:  # one customer (``explain``), by its normalised code
            query = query.where(ledger.c.customer_key == key)
        out: dict[tuple[str, str, str], dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(query).mappings():
                row = dict(r)
                row["payload"] = _loads(row["payload"], f"ledger entry {row['code']!r}")
                row["detail"] = (_expand_detail(_loads(row["detail"], "audit detail"), row["payload"])
                                 if row["detail"] else None)
                row["confirmed_at"] = _aware(row["confirmed_at"])
                out[(row["pipeline"], row["target"], row["customer_key"])] = row  # the last write of that run
        return list(out.values())

    def sticky_outcomes(self, pipeline: str | None = None) -> list[dict[str, Any]]:
        """The customers whose last recorded outcome is rejected, unmatched or unsupported (``tc_outcomes``)."""
        if self.empty:
            return []
        query = select(outcomes).order_by(outcomes.c.pipeline, outcomes.c.ident)
        if pipeline:
            query = query.where(outcomes.c.pipeline == pipeline)
        with self.engine.connect() as conn:
            return [{**dict(r), "since": _aware(r["since"])} for r in conn.execute(query).mappings()]

    def run_trail(self, run_id: int) -> dict[str, Any]:
        """What the audit trail of a run left out because it repeated an earlier run (see ``record_outcomes``)."""
        if self.empty:
            return {}
        with self.engine.connect() as conn:
            value = conn.execute(select(runs.c.trail).where(runs.c.id == run_id)).scalar()
        return dict(_loads(value, f"run {run_id} trail")) if value else {}

    def last_confirmed(self, pipeline: str) -> datetime | None:
        """When the last run of ``pipeline`` that completed (``ok`` or ``partial``) finished."""
        if self.empty:
            return None
        query = select(func.max(runs.c.finished_at)).where(
            runs.c.pipeline == pipeline, runs.c.status.in_(("ok", "partial"))
        )
        with self.engine.connect() as conn:
            return _aware(conn.execute(query).scalar())

    def last_started(self, pipeline: str) -> datetime | None:
        """When the last run of ``pipeline`` (any status but ``locked``) started: the service's catch-up point."""
        if self.empty:
            return None
        query = select(func.max(runs.c.started_at)).where(runs.c.pipeline == pipeline, runs.c.status != "locked")
        with self.engine.connect() as conn:
            return _aware(conn.execute(query).scalar())

    # --- ledger ----------------------------------------------------------------------------------------
    def load_ledger(self, pipeline: str, target: str, keys: Sequence[str] | None = None) -> dict[str, LedgerEntry]:
        """The ledger of ``pipeline`` × ``target``: all of it, or only the entries of ``keys`` (a chunk of a run)."""
        if self.empty:
            return {}
        query = select(ledger.c.customer_key, ledger.c.code, ledger.c.payload).where(
            ledger.c.pipeline == pipeline, ledger.c.target == target
        )
        with self.engine.connect() as conn:
            if keys is None:
                return {key: LedgerEntry(code, text) for key, code, text in conn.execute(query)}
            out: dict[str, LedgerEntry] = {}
            for chunk in chunks(list(keys), 500):
                out.update((key, LedgerEntry(code, text)) for key, code, text in
                           conn.execute(query.where(_one_of(conn, ledger.c.customer_key, chunk))))
            return out

    def outcome_keys(self, pipeline: str, target: str) -> set[str]:
        """The customers (keys) with a sticky outcome recorded (``tc_outcomes``): few, next to the ledger."""
        if self.empty:
            return set()
        query = select(outcomes.c.ident).where(outcomes.c.pipeline == pipeline, outcomes.c.target == target)
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def record_batch(
        self, run_id: int, pipeline: str, target: str,
        confirmed: Sequence[tuple[str, str, Mapping[str, Any] | str]], items: Iterable[ItemRecord],
    ) -> None:
        """In one transaction: move the ledger forward for confirmed customers and append the audit trail.

        A payload may be given as its canonical JSON text (``dumps``) already: the orchestrator encodes each
        written payload once for the ledger and the audit row. The ledger is upserted (no delete-then-insert).

        When this store holds ``pipeline``'s lease for ``run_id``, the transaction first renews it with a
        conditional UPDATE, and rolls back with ``LeaseLostError`` if the lease is no longer this run's: a run
        that lost its lease never moves the ledger (a fencing token, on SQLite and PostgreSQL alike).
        """
        self._writable()
        now = utcnow()
        lease = self._leases.get(pipeline)
        with self.engine.begin() as conn:
            if lease is not None and lease.run_id == run_id and not self._renew_in(conn, lease, now):
                lease.lost_reason = "its lease was taken over by another run"
                raise LeaseLostError(f"pipeline {pipeline!r} run {run_id}: its lease was taken over before this "
                                     "batch was recorded; the shop's answers are not recorded and the next run "
                                     "sends these customers again")
            _fast_commit(conn)
            if confirmed:
                _upsert(conn, ledger, [
                    {"pipeline": pipeline, "target": target, "customer_key": key, "code": code,
                     "payload": _text(payload), "confirmed_at": now, "run_id": run_id}
                    for key, code, payload in confirmed
                ], ("pipeline", "target", "customer_key"))
            rows = [self._item_row(run_id, i, now) for i in items]
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

    def record_outcomes(
        self, run_id: int, pipeline: str, target: str, items: Iterable[ItemRecord], settled: Iterable[str] = (),
        *, complete: bool = True,
    ) -> dict[str, Any]:
        """Append the audit rows of customers with a sticky outcome (rejected, unmatched, …), but only for those
        whose outcome or reason changed since it was last recorded; the others are counted in the run's trail.

        ``settled`` are the keys of customers that were unchanged this run: one of them that had a sticky outcome
        before gets an ``unchanged`` row (its outcome changed back). ``complete=False`` (a run that stopped before
        reading everyone) keeps the outcomes of customers it did not see. Returns the trail saved with the run.
        A run streams them instead through ``outcome_recorder`` (chunk by chunk), which this is one call of.
        """
        recorder = self.outcome_recorder(run_id, pipeline, target)
        recorder.add(items)
        return recorder.finish(settled, complete=complete)

    def outcome_recorder(self, run_id: int, pipeline: str, target: str) -> OutcomeRecorder:
        """``record_outcomes`` in steps: ``add`` each chunk's sticky outcomes as the run goes, then ``finish``."""
        self._writable()
        return OutcomeRecorder(self, run_id, pipeline, target)

    @staticmethod
    def _item_row(run_id: int, item: ItemRecord, now: datetime) -> dict[str, Any]:
        return {"run_id": run_id, "customer_key": item.key, "code": item.code, "outcome": item.outcome,
                "reason": mask(item.reason) if item.reason else None,
                "payload": _text(item.payload) if item.payload is not None else None, "at": now,
                "detail": _item_detail(item)}

    # --- retention -------------------------------------------------------------------------------------
    def prune(
        self, *, keep_runs: int | None, keep_days: int | None, pipeline: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, int]:
        """Delete old runs with their audit rows: those older than ``keep_days`` days and those beyond the
        newest ``keep_runs`` of their pipeline (0 or None: no such limit). Never deleted: a run still running,
        and each pipeline's last completed run (freshness and ``/healthz`` read it). Returns what was deleted.
        """
        self._writable()
        now = now or utcnow()
        cutoff = now - timedelta(days=keep_days) if keep_days else None
        deleted = {"runs": 0, "items": 0, "lease_events": 0}
        with self.engine.begin() as conn:
            names = [pipeline] if pipeline else list(conn.execute(select(runs.c.pipeline).distinct()).scalars())
            doomed: list[int] = []
            for name in names:
                keep = {i for i in (
                    conn.execute(select(func.max(runs.c.id)).where(
                        runs.c.pipeline == name, runs.c.status.in_(("ok", "partial")))).scalar(),
                ) if i is not None}
                conditions = []
                if keep_runs:
                    oldest_kept = conn.execute(
                        select(runs.c.id).where(runs.c.pipeline == name).order_by(runs.c.id.desc())
                        .offset(keep_runs - 1).limit(1)
                    ).scalar()
                    if oldest_kept is not None:
                        conditions.append(runs.c.id < oldest_kept)
                if cutoff is not None:
                    conditions.append(runs.c.started_at < cutoff)
                if not conditions:
                    continue
                query = select(runs.c.id).where(
                    runs.c.pipeline == name, runs.c.status != "running", or_(*conditions)
                )
                doomed += [i for i in conn.execute(query).scalars() if i not in keep]
            for chunk in chunks(doomed, 500):
                deleted["items"] += int(conn.execute(delete(run_items).where(run_items.c.run_id.in_(chunk))).rowcount
                                        or 0)
                deleted["runs"] += int(conn.execute(delete(runs).where(runs.c.id.in_(chunk))).rowcount or 0)
            if cutoff is not None:
                events = delete(lease_events).where(lease_events.c.at < cutoff)
                if pipeline:
                    events = events.where(lease_events.c.pipeline == pipeline)
                deleted["lease_events"] = int(conn.execute(events).rowcount or 0)
        return deleted

    # --- leases ----------------------------------------------------------------------------------------
    def acquire_lease(
        self, pipeline: str, run_id: int, *, timeout: timedelta, stop: threading.Event | None = None,
        heartbeat: bool = True,
    ) -> Lease:
        """Take ``pipeline``'s lease for ``run_id`` and start renewing it every few seconds.

        A lease held by another run is taken over only when it is dead: not renewed within its own
        ``lease_timeout`` (``expires_at`` passed), or held on this host by a process that is gone. The takeover
        is one conditional UPDATE that wins only against the exact renewal it looked at, so two runners never
        both get it, and a holder that renewed in between keeps it. The dead run is marked ``abandoned`` and the
        takeover recorded in ``tc_lease_events``. Raises ``LockHeldError`` when the lease is live.
        """
        self._writable()
        holder = Holder.this_process()
        for _ in range(5):
            now = utcnow()
            values = {
                "run_id": run_id, "holder": holder.describe(run_id), "acquired_at": now, "host": holder.host,
                "pid": holder.pid, "proc_started": holder.started, "heartbeat_at": now, "expires_at": now + timeout,
                "beats": 0,
            }
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(locks).values(pipeline=pipeline, **values))
                    self._abandon_orphans(conn, pipeline, run_id, now)
                return self._granted(pipeline, run_id, holder, timeout, now, stop, heartbeat)
            except IntegrityError:
                pass
            with self.engine.begin() as conn:
                row = conn.execute(select(locks).where(locks.c.pipeline == pipeline)).mappings().first()
                if row is None:
                    continue  # released in between: insert again
                why = dead_lease_reason(row, now, timeout)
                if why is None:
                    raise LockHeldError(
                        f"pipeline {pipeline!r} is already running ({describe_lease(row, now)}); its lease is "
                        f"renewed every few seconds and taken over once it is not renewed for {timeout}"
                    )
                beats = locks.c.beats.is_(None) if row["beats"] is None else locks.c.beats == row["beats"]
                taken = conn.execute(
                    update(locks).where(locks.c.pipeline == pipeline, locks.c.run_id == row["run_id"], beats)
                    .values(**values)
                )
                if taken.rowcount != 1:
                    continue  # renewed or taken by someone else in between: look again
                reason = mask(f"{why}; taken over by run {run_id} ({holder.describe(run_id)})")
                _record_lease_end(conn, row, "takeover", run_id, reason, now)
                self._abandon_orphans(conn, pipeline, run_id, now)
            log.warning("pipeline %s: %s", pipeline, reason)
            return self._granted(pipeline, run_id, holder, timeout, now, stop, heartbeat)
        raise LockHeldError(f"pipeline {pipeline!r}: the lease changed hands repeatedly while taking it; try again")

    def _abandon_orphans(self, conn: Connection, pipeline: str, run_id: int, now: datetime) -> None:
        # Runs that died between writing their run row and taking the lease hold nothing: nobody else would
        # ever finish their row.
        conn.execute(
            update(runs).where(runs.c.pipeline == pipeline, runs.c.status == "running", runs.c.id < run_id)
            .values(status="abandoned", finished_at=now,
                    error=f"abandoned: ended without finishing and without holding the lease (seen by run {run_id})")
        )

    def _granted(
        self, pipeline: str, run_id: int, holder: Holder, timeout: timedelta, now: datetime,
        stop: threading.Event | None, heartbeat: bool,
    ) -> Lease:
        lease = Lease(pipeline, run_id, holder, timeout, renew=self.renew_lease, release=self._release,
                      expires_at=now + timeout, stop=stop)
        with self._lease_guard:
            self._leases[pipeline] = lease
        return lease.start() if heartbeat else lease

    def _renew_in(self, conn: Connection, lease: Lease, now: datetime) -> bool:
        result = conn.execute(
            update(locks).where(locks.c.pipeline == lease.pipeline, locks.c.run_id == lease.run_id)
            .values(heartbeat_at=now, expires_at=now + lease.timeout, beats=func.coalesce(locks.c.beats, 0) + 1)
        )
        if result.rowcount == 1:
            lease.expires_at = now + lease.timeout
        return result.rowcount == 1

    def renew_lease(self, lease: Lease) -> bool:
        """Renew ``lease`` (the heartbeat calls this); False when it is no longer this run's."""
        with self.engine.begin() as conn:
            return self._renew_in(conn, lease, utcnow())

    def check_lease(self, pipeline: str) -> None:
        """Raise ``LeaseLostError`` / ``StopRequested`` when the run holding ``pipeline`` must not write on."""
        lease = self._leases.get(pipeline)
        if lease is not None:
            lease.check()

    def release_lease(self, lease: Lease) -> None:
        lease.release()

    def _release(self, lease: Lease) -> None:
        with self._lease_guard:
            if self._leases.get(lease.pipeline) is lease:
                del self._leases[lease.pipeline]
        with self.engine.begin() as conn:
            conn.execute(delete(locks).where(locks.c.pipeline == lease.pipeline, locks.c.run_id == lease.run_id))

    def leases(self, now: datetime | None = None, timeout: timedelta | None = None) -> list[LeaseInfo]:
        """Every lease in the store, with whether its holder is dead (see ``dead_lease_reason``)."""
        if self.empty:
            return []
        now = now or utcnow()
        with self.engine.connect() as conn:
            rows = conn.execute(select(locks).order_by(locks.c.pipeline)).mappings().all()
        return [LeaseInfo(r["pipeline"], r["run_id"], r["holder"], describe_lease(r, now),
                          dead_lease_reason(r, now, timeout)) for r in rows]

    def unlock(self, pipeline: str, *, force: bool = False, timeout: timedelta | None = None) -> LeaseInfo | None:
        """Release ``pipeline``'s lease for an operator. A live lease is refused (``LockHeldError``) unless
        ``force``; the run that held it is marked ``abandoned`` and the unlock recorded. None: no lease held."""
        self._writable()
        now = utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(select(locks).where(locks.c.pipeline == pipeline)).mappings().first()
            if row is None:
                return None
            why = dead_lease_reason(row, now, timeout)
            info = LeaseInfo(row["pipeline"], row["run_id"], row["holder"], describe_lease(row, now), why)
            if why is None and not force:
                raise LockHeldError(
                    f"pipeline {pipeline!r} is held by a live run ({info.detail}); it is still renewing its lease. "
                    "Use --force only if you are sure that process is not writing (it stops before its next batch)"
                )
            reason = mask(f"released by `state unlock{' --force' if force else ''}`"
                          + (f" ({why})" if why else " while its holder was alive"))
            conn.execute(delete(locks).where(locks.c.pipeline == pipeline, locks.c.run_id == row["run_id"]))
            _record_lease_end(conn, row, "unlock", None, reason, now)
        return info

    def lease_events(self, pipeline: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        if self.empty:
            return []
        query = select(lease_events).order_by(lease_events.c.id.desc()).limit(limit)
        if pipeline:
            query = query.where(lease_events.c.pipeline == pipeline)
        with self.engine.connect() as conn:
            return [{**dict(r), "at": _aware(r["at"])} for r in conn.execute(query).mappings()]

    # --- cache -----------------------------------------------------------------------------------------
    def cache_get(self, namespace: str, keys: list[str]) -> dict[str, Any]:
        if self.empty:
            return {}
        out: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(keys, 500):
                query = select(cache.c.key, cache.c.value).where(cache.c.namespace == namespace,
                                                                 _one_of(conn, cache.c.key, chunk))
                for key, value in conn.execute(query):
                    out[key] = _loads(value, f"cache entry {namespace}/{key}")
        return out

    def cache_put(self, namespace: str, values: Mapping[str, Any]) -> None:
        self._writable()
        if not values:
            return
        now = utcnow()
        with self.engine.begin() as conn:
            _fast_commit(conn)
            _upsert(conn, cache, [{"namespace": namespace, "key": k, "value": dumps(v), "updated_at": now}
                                  for k, v in values.items()], ("namespace", "key"))

    def cache_delete(self, namespace: str, keys: list[str]) -> None:
        self._writable()
        with self.engine.begin() as conn:
            for chunk in chunks(keys, 500):
                conn.execute(delete(cache).where(cache.c.namespace == namespace, cache.c.key.in_(chunk)))

    def analyze(self) -> None:
        """Refresh the planner's statistics of the big tables (PostgreSQL; a no-op elsewhere).

        Called after a run that grew the ledger a lot: autovacuum may not have analysed it yet on a busy server,
        and the next run's reads would be planned for an empty table.
        """
        self._writable()
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                conn.execute(text(f"ANALYZE {ledger.name}, {cache.name}, {outcomes.name}"))

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


def check_state(url: str, *, lease_timeout: timedelta | None = None) -> list[CheckResult]:
    """The ``[state]`` lines of ``tradecredit check``: reachable, schema version, leases. Changes nothing."""
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
        results.append(_check_leases(store, version, lease_timeout))
        return results
    finally:
        store.close()


def _check_leases(store: StateStore, version: int, lease_timeout: timedelta | None) -> CheckResult:
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
    dead = [(r, why) for r in held if (why := dead_lease_reason(r, now, lease_timeout)) is not None]
    if dead:
        described = "; ".join(f"{r['pipeline']} held by a dead run ({describe_lease(r, now)}): {why}"
                              for r, why in dead)
        return CheckResult(
            name="locks", status=CheckStatus.FAIL,
            detail=f"{described}. The next run takes it over; `tradecredit state unlock PIPELINE` releases it now",
        )
    described = "; ".join(f"{r['pipeline']} by {describe_lease(r, now)}" for r in held)
    return CheckResult(name="locks", status=CheckStatus.OK, detail=f"lock table present; held (live): {described}")


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
    # Under WAL, NORMAL syncs at checkpoints, not at every commit. A power cut may lose the last commits: the
    # next run then sends those confirmed customers again (never skips one), and the file stays consistent.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class OutcomeRecorder:
    """The sticky outcomes of one run, recorded chunk by chunk (see ``StateStore.record_outcomes``): the run's
    report keeps only the first entries of its lists, so the outcomes cannot wait for the end of the run.

    What it holds grows with the outcomes recorded before (``before``, few after a first sync) and with the
    idents seen this run (a set of strings: ~100k at 1M customers), not with the rows written."""

    def __init__(self, store: StateStore, run_id: int, pipeline: str, target: str) -> None:
        self.store, self.run_id, self.pipeline, self.target = store, run_id, pipeline, target
        self.where = (outcomes.c.pipeline == pipeline, outcomes.c.target == target)
        self.now = utcnow()
        self.repeated: dict[str, int] = {}
        self.current: set[str] = set()
        with store.engine.connect() as conn:
            self.before = {r.ident: r for r in conn.execute(select(outcomes).where(*self.where))}

    def add(self, items: Iterable[ItemRecord]) -> None:
        """Record one chunk's sticky outcomes (in one transaction, rows written every 1,000)."""
        rows: list[dict[str, Any]] = []
        changed: dict[str, dict[str, Any]] = {}  # ident → its new tc_outcomes row

        def flush(conn: Connection) -> None:
            if changed:
                _upsert(conn, outcomes, list(changed.values()), ("pipeline", "target", "ident"))
                changed.clear()
            if rows:
                conn.execute(insert(run_items), rows)
                rows.clear()

        with self.store.engine.begin() as conn:
            for item in items:
                if len(rows) >= 1000:
                    flush(conn)
                ident = item.key or (normalise_code(item.code) if item.code else None)
                reason = mask(item.reason) if item.reason else None
                previous = self.before.get(ident) if ident else None
                if previous is not None and (previous.outcome, previous.reason) == (item.outcome, reason):
                    self.repeated[item.outcome] = self.repeated.get(item.outcome, 0) + 1
                    self.current.add(ident)  # type: ignore[arg-type]
                    continue
                rows.append(StateStore._item_row(self.run_id, item, self.now))
                if ident is not None and ident not in self.current:
                    self.current.add(ident)
                    changed[ident] = {"pipeline": self.pipeline, "target": self.target, "ident": ident,
                                      "code": item.code, "outcome": item.outcome, "reason": reason,
                                      "run_id": self.run_id, "since": self.now}
            flush(conn)

    def finish(self, settled: Iterable[str] = (), *, complete: bool = True) -> dict[str, Any]:
        """Forget the outcomes of customers no longer in one, and save the run's trail (returned)."""
        before, where = self.before, self.where
        with self.store.engine.begin() as conn:
            # A run that stopped early (shop unreachable) did not see everyone: absence then proves nothing.
            gone = [ident for ident in before if ident not in self.current] if complete else []
            settled_keys = set(settled)
            rows = [StateStore._item_row(self.run_id, ItemRecord(
                ident, before[ident].code, "unchanged",
                f"no longer {before[ident].outcome} (recorded in run #{before[ident].run_id})"), self.now)
                for ident in gone if ident in settled_keys]
            for chunk in chunks(gone, 500):
                conn.execute(delete(outcomes).where(*where, outcomes.c.ident.in_(chunk)))
            for chunk in chunks(rows, 1000):
                conn.execute(insert(run_items), chunk)
            trail = {"not_repeated": self.repeated} if self.repeated else {}
            conn.execute(update(runs).where(runs.c.id == self.run_id).values(trail=dumps(trail) if trail else None))
        return trail

