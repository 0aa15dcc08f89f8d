"""``tradecredit doctor``: everything that can go wrong before the first sync, each with its fix spelled out.

Every line has a stable id (``python.version``, ``odbc.pyodbc``, ``db.connect`` …; the README's
troubleshooting section is keyed by them), a status, a message and, unless it is OK, the fix. Core stays
generic: a source says which database it reads (``Source.database_url``) and which tables and columns it
needs (``Source.expected_schema``); a target diagnoses its own shop (``Target.diagnose``: reachable, clock
skew, the key's scopes). Nothing here writes: the read-only probe runs inside a transaction that is rolled
back, and a state store that does not exist yet is not created.
"""

from __future__ import annotations

import sys
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, column, create_engine, false, inspect, table, text, update
from sqlalchemy.engine import URL, Engine

from .adapters import CheckResult, CheckStatus, ExpectedTable, Source, Target
from .config import Config, ConfiguredAdapter, load_config
from .dialects import Problem, dialect_problem, driver_problem, odbc_drivers, odbc_fix, parse, pyodbc_problem
from .errors import ConfigError, PluginError
from .secrets import mask
from .sql import create_source_engine
from .sync import instantiate

MIN_PYTHON = (3, 11)
CONNECT_TIMEOUT = 10  # seconds: an unreachable host must not hang the doctor for the driver's default minutes


@dataclass(frozen=True, slots=True)
class DoctorLine:
    id: str
    status: CheckStatus
    subject: str
    message: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}


def _line(id: str, subject: str, status: CheckStatus, message: str, fix: str | None = None) -> DoctorLine:
    return DoctorLine(id, status, subject, mask(message), None if status is CheckStatus.OK else fix)


def _from_result(subject: str, result: CheckResult) -> DoctorLine:
    return _line(result.name, subject, result.status, result.detail, result.fix)


def check_python() -> DoctorLine:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] >= MIN_PYTHON:
        return _line("python.version", "python", CheckStatus.OK, f"Python {version} ({sys.executable})")
    return _line("python.version", "python", CheckStatus.FAIL, f"Python {version}: tradecredit needs 3.11 or newer",
                 "install Python 3.11+ (python.org, or your distribution's python3.11 package) and a new venv")


def check_odbc(needed: bool) -> list[DoctorLine]:
    """pyodbc and the ODBC drivers: FAIL only when a configured URL is SQL Server (``needed``)."""
    bad = CheckStatus.FAIL if needed else CheckStatus.WARN
    why = "" if needed else " (only needed for SQL Server; no configured URL uses it)"
    problem = pyodbc_problem()
    if problem is not None:
        return [_line("odbc.pyodbc", "odbc", bad, problem.message + why, problem.fix)]
    lines = [_line("odbc.pyodbc", "odbc", CheckStatus.OK, "pyodbc imports")]
    drivers = odbc_drivers() or []
    sql_server = [d for d in drivers if "SQL Server" in d]
    if sql_server:
        lines.append(_line("odbc.drivers", "odbc", CheckStatus.OK, f"SQL Server ODBC drivers: {', '.join(sql_server)}"))
    else:
        found = ", ".join(drivers) or "none"
        lines.append(_line("odbc.drivers", "odbc", bad, f"no SQL Server ODBC driver installed (drivers: {found}){why}",
                           "install Microsoft's ODBC Driver 18 for SQL Server: " + odbc_fix()))
    return lines


def _url_checks(subject: str, url: str) -> tuple[list[DoctorLine], URL | None]:
    """``db.dialect`` and ``db.driver`` of one URL; the parsed URL when both passed."""
    parsed = parse(url)
    if isinstance(parsed, Problem):
        return [_line("db.dialect", subject, CheckStatus.FAIL, parsed.message, parsed.fix)], None
    unknown = dialect_problem(parsed)
    if unknown is not None:
        return [_line("db.dialect", subject, CheckStatus.FAIL, f"{mask(url)}: {unknown.message}", unknown.fix)], None
    lines = [_line("db.dialect", subject, CheckStatus.OK, f"dialect {parsed.get_backend_name()}")]
    missing = driver_problem(parsed)
    if missing is not None:
        return [*lines, _line("db.driver", subject, CheckStatus.FAIL, missing.message, missing.fix)], None
    lines.append(_line("db.driver", subject, CheckStatus.OK, f"driver {parsed.get_dialect().driver} installed"))
    if parsed.get_backend_name() == "mssql":
        wanted = parsed.query.get("driver")
        installed = odbc_drivers() or []
        if isinstance(wanted, str) and wanted not in installed:
            lines.append(_line("odbc.drivers", subject, CheckStatus.FAIL,
                               f"the URL asks for ODBC driver {wanted!r}; installed: {', '.join(installed) or 'none'}",
                               "install that driver, or put an installed one in the URL's driver= (spaces as +): "
                               + odbc_fix()))
    return lines, parsed


def _connect_args(url: URL) -> dict[str, Any]:
    backend = url.get_backend_name()
    if backend == "postgresql":
        return {"connect_timeout": CONNECT_TIMEOUT}
    if backend == "mssql":
        return {"timeout": CONNECT_TIMEOUT}
    return {}


def _connect_fix(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"the SQLite file {url.database} must exist and be readable by the account that runs tradecredit"
    where = f"{url.host or 'localhost'}" + (f":{url.port}" if url.port else "")
    fix = (f"check that {where} is reachable from this machine (host name, port, firewall), that the server "
           "accepts TCP/IP connections, and the user name, password and database name")
    if url.get_backend_name() == "mssql":
        fix += ("; SQL Server: enable TCP/IP in SQL Server Configuration Manager, open port 1433 (or start the "
                "SQL Server Browser service for a named instance host\\INSTANCE), and for a self-signed certificate "
                "add TrustServerCertificate=yes to the URL")
    return fix


def check_source_database(name: str, source: Source[Any]) -> list[DoctorLine]:
    """Dialect, driver, connect, expected schema and the read-only login of one source's database."""
    subject = f"source {name}"
    url = source.database_url()
    if url is None:
        return []
    lines, parsed = _url_checks(subject, url)
    if parsed is None:
        return lines
    try:
        engine = create_source_engine(url, connect_args=_connect_args(parsed))
    except ConfigError as exc:
        return [*lines, _line("db.connect", subject, CheckStatus.FAIL, str(exc), _connect_fix(parsed))]
    try:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - every connection failure is a FAIL line with the fix
            return [*lines, _line("db.connect", subject, CheckStatus.FAIL,
                                  f"cannot connect to {mask(parsed)}: {_first_line(exc)}", _connect_fix(parsed))]
        lines.append(_line("db.connect", subject, CheckStatus.OK, f"connected to {mask(parsed)}"))
        expected = source.expected_schema(engine.dialect.name)
        if not expected:
            return lines
        schema_line = _schema_line(subject, engine, expected)
        lines.append(schema_line)
        if schema_line.status is CheckStatus.OK:
            lines.append(_read_only_line(subject, parsed, engine.dialect.name, expected[0]))
        return lines
    finally:
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    return mask(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


def _schema_line(subject: str, engine: Engine, expected: list[ExpectedTable]) -> DoctorLine:
    found = _columns(engine, expected)
    missing_tables = [t.qualified for t in expected if (t.schema, t.name) not in found]
    missing_columns = [f"{t.qualified}.{c}" for t in expected if (t.schema, t.name) in found
                       for c in t.columns if c not in found[(t.schema, t.name)]]
    if not missing_tables and not missing_columns:
        n = sum(len(t.columns) for t in expected)
        return _line("db.schema", subject, CheckStatus.OK, f"{len(expected)} expected tables with their {n} columns")
    parts = []
    if missing_tables:
        parts.append(f"missing tables: {', '.join(missing_tables)}")
    if missing_columns:
        shown = ", ".join(missing_columns[:10]) + (f" … and {len(missing_columns) - 10} more"
                                                   if len(missing_columns) > 10 else "")
        parts.append(f"missing columns: {shown}")
    return _line("db.schema", subject, CheckStatus.FAIL, "; ".join(parts),
                 "point the URL at the company database (e.g. CDN_Firma, not master or the configuration "
                 "database) and give the login SELECT on these tables; a missing column means a version of "
                 "the ERP this plugin does not know (see the plugin's page in docs/plugins/)")


def _columns(engine: Engine, expected: list[ExpectedTable]) -> dict[tuple[str | None, str], set[str]]:
    """Columns of the expected tables that exist: INFORMATION_SCHEMA on servers, the inspector on SQLite."""
    found: dict[tuple[str | None, str], set[str]] = {}
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            insp = inspect(conn)
            for t in expected:
                if insp.has_table(t.name, schema=t.schema):
                    found[(t.schema, t.name)] = {c["name"] for c in insp.get_columns(t.name, schema=t.schema)}
            return found
        schemas = sorted({t.schema for t in expected if t.schema})
        stmt = text("SELECT table_schema, table_name, column_name FROM information_schema.columns"
                    + (" WHERE table_schema IN :schemas" if schemas else ""))
        if schemas:
            stmt = stmt.bindparams(bindparam("schemas", expanding=True))
        rows = conn.execute(stmt, {"schemas": schemas} if schemas else {}).all()
    for schema, name, col in rows:
        found.setdefault((schema, name), set()).add(col)
    return found


def _read_only_line(subject: str, url: URL, dialect: str, probe: ExpectedTable) -> DoctorLine:
    """Try an UPDATE that matches no row, inside a transaction that is rolled back: a read-only login is refused."""
    if dialect == "sqlite":
        return _line("db.read_only", subject, CheckStatus.OK,
                     "SQLite has no logins; tradecredit opens the file read-only (mode=ro)")
    # Without the read-only session create_source_engine sets: the point is what the login itself may do.
    engine = create_engine(url, connect_args=_connect_args(url))
    t = table(probe.name, column(probe.columns[0]), schema=probe.schema)
    try:
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                conn.execute(update(t).values({probe.columns[0]: t.c[probe.columns[0]]}).where(false()))
            except Exception as exc:  # noqa: BLE001 - refused: what a read-only login must get
                trans.rollback()
                return _line("db.read_only", subject, CheckStatus.OK,
                             f"login {url.username or '(integrated)'} cannot write to {probe.qualified}: "
                             f"{_first_line(exc)}")
            trans.rollback()
    finally:
        engine.dispose()
    return _line("db.read_only", subject, CheckStatus.FAIL,
                 f"login {url.username or '(integrated)'} may write to {probe.qualified} (an UPDATE in a rolled-back "
                 "transaction was accepted); tradecredit never writes to the ERP, and its login should not be able to",
                 "use a login with SELECT only. SQL Server: CREATE LOGIN tc_reader WITH PASSWORD = '…'; in the company "
                 "database CREATE USER tc_reader FOR LOGIN tc_reader; ALTER ROLE db_datareader ADD MEMBER tc_reader. "
                 "PostgreSQL: CREATE ROLE tc_reader LOGIN; GRANT USAGE ON SCHEMA … TO tc_reader; GRANT SELECT ON ALL "
                 "TABLES IN SCHEMA … TO tc_reader")


def check_state_store(url: str) -> list[DoctorLine]:
    """The state store can be written: its folder (SQLite) or a rolled-back CREATE TABLE (servers)."""
    subject = "state"
    lines, parsed = _url_checks(subject, url)
    if parsed is None:
        return lines
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if not db or db == ":memory:":
            return [*lines, _line("state.writable", subject, CheckStatus.OK, "in-memory SQLite")]
        folder = Path(db).parent
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".tc-doctor-"):
                pass
            if Path(db).exists():
                with Path(db).open("ab"):
                    pass
        except OSError as exc:
            return [*lines, _line("state.writable", subject, CheckStatus.FAIL,
                                  f"cannot write the state file {db}: {exc.strerror or exc}",
                                  f"give the account that runs tradecredit write access to {folder} (and the file), "
                                  "or set [state] url to a writable place")]
        exists = "exists" if Path(db).exists() else "will be created by the first run"
        return [*lines, _line("state.writable", subject, CheckStatus.OK, f"{db} is writable ({exists})")]
    engine = create_engine(parsed, connect_args=_connect_args(parsed))
    try:
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                conn.execute(text("CREATE TABLE tc_doctor_probe (x INTEGER)"))
            finally:
                trans.rollback()
    except Exception as exc:  # noqa: BLE001
        return [*lines, _line("state.writable", subject, CheckStatus.FAIL,
                              f"cannot create tables in {mask(parsed)}: {_first_line(exc)}",
                              "the state store's login needs to create tables and write rows in its own database "
                              "(PostgreSQL: GRANT CREATE ON SCHEMA public …); " + _connect_fix(parsed))]
    finally:
        engine.dispose()
    return [*lines, _line("state.writable", subject, CheckStatus.OK, f"{mask(parsed)}: can create tables")]


def check_target(name: str, adapter: ConfiguredAdapter[Target[Any]], config: Config) -> list[DoctorLine]:
    subject = f"target {name}"
    try:
        target = instantiate(adapter, policy=config.engine.policy())
        try:
            results = target.diagnose() or target.check(None)
        finally:
            target.close()
    except Exception as exc:  # noqa: BLE001 - one broken target does not hide the others
        return [_line("shop.error", subject, CheckStatus.FAIL, f"{type(exc).__name__}: {exc}",
                      "see the message; `tradecredit check` shows the same target's own checks")]
    return [_from_result(subject, r) for r in results]


def _references(subject: str, source: Source[Any]) -> list[DoctorLine]:
    return [_from_result(subject, r) for r in source.check_references()]


def _guarded(subject: str, check_id: str, call: Callable[[], list[DoctorLine]]) -> list[DoctorLine]:
    """One check group that raised unexpectedly becomes a FAIL line; the doctor goes on with the others."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001
        return [_line(check_id, subject, CheckStatus.FAIL, f"{type(exc).__name__}: {_first_line(exc)}",
                      "see the message; `tradecredit -v doctor …` logs where it came from")]


def _raw_urls(path: Path) -> list[tuple[str, str]]:
    """Database URLs written in the file, for when it does not load (so a wrong dialect still gets its line)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return []
    urls = []
    state = data.get("state")
    if isinstance(state, dict) and isinstance(state.get("url"), str):
        urls.append(("state", state["url"]))
    sources = data.get("sources")
    for name, body in (sources.items() if isinstance(sources, dict) else []):
        if isinstance(body, dict) and isinstance(body.get("url"), str):
            urls.append((f"source {name}", body["url"]))
    return urls


def run_doctor(config_path: str | Path) -> tuple[list[DoctorLine], bool]:
    """Every doctor line, and whether the config loaded (the CLI exits 3 when it did not)."""
    path = Path(config_path)
    lines = [check_python()]
    try:
        config = load_config(path)
    except (ConfigError, PluginError) as exc:
        raw = _raw_urls(path)
        lines += check_odbc(any(u.startswith("mssql") for _, u in raw))
        for subject, url in raw:
            lines += _url_checks(subject, url)[0]
        lines.append(_line("config.load", "config", CheckStatus.FAIL, str(exc),
                           "fix the problems listed (each with its dotted path); `tradecredit config validate -c FILE` "
                           "lists them again"))
        return lines, False
    lines.append(_line("config.load", "config", CheckStatus.OK, f"{path}: {len(config.sources)} source(s), "
                       f"{len(config.targets)} target(s), {len(config.pipelines)} pipeline(s)"))
    sources = {name: instantiate(adapter) for name, adapter in config.sources.items()}
    try:
        urls = [s.database_url() or "" for s in sources.values()]
        lines += check_odbc(any(u.startswith("mssql") for u in urls))
        for name, source in sources.items():
            subject = f"source {name}"
            own = _guarded(subject, "db.error", partial(check_source_database, name, source))
            lines += own
            connected = any(line.id == "db.connect" and line.status is CheckStatus.OK for line in own)
            if connected and not any(line.id == "db.schema" and line.status is CheckStatus.FAIL for line in own):
                lines += _guarded(subject, "references", partial(_references, subject, source))
    finally:
        for source in sources.values():
            source.close()
    lines += _guarded("state", "state.error", lambda: check_state_store(config.state.url))
    for name, adapter in config.targets.items():
        lines += check_target(name, adapter, config)
    return lines, True


def clock_skew(date_header: str | None, sent: datetime, received: datetime) -> float | None:
    """Seconds the shop's clock is ahead of ours (negative: behind), from its ``Date`` header; None without one."""
    from email.utils import parsedate_to_datetime

    if not date_header:
        return None
    try:
        theirs = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    if theirs.tzinfo is None:
        theirs = theirs.replace(tzinfo=UTC)
    ours = sent + (received - sent) / 2
    return (theirs - ours).total_seconds()
