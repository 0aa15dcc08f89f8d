"""What can be known about a database URL before connecting: is its dialect known, is its driver installed,
and why pyodbc cannot be imported. Shared by ``config validate`` and ``tradecredit doctor``.

Nothing here knows an ERP; the extras named are tradecredit's own (``pyproject.toml``).
"""

from __future__ import annotations

import difflib
import importlib
import sys
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from .secrets import mask

# Dialects SQLAlchemy ships (``sqlalchemy.dialects``), for "did you mean" suggestions.
KNOWN_DIALECTS = ("sqlite", "postgresql", "mssql", "mysql", "mariadb", "oracle")
# backend → (the extra that installs its driver, the driver it installs)
EXTRAS = {"mssql": ("mssql", "pyodbc"), "postgresql": ("postgres", "psycopg")}

LINUX_ODBC_FIX = ("install unixODBC, which pyodbc needs: Debian/Ubuntu `sudo apt install unixodbc`; "
                  "RHEL/Rocky/Fedora `sudo dnf install unixODBC`; then Microsoft's driver `msodbcsql18` "
                  "(https://learn.microsoft.com/sql/connect/odbc/linux-mac/installing-the-microsoft-odbc-driver-for-sql-server)")
WINDOWS_ODBC_FIX = ('install "Microsoft ODBC Driver 18 for SQL Server" (or 17) from Microsoft\'s download page '
                    "(msodbcsql.msi), then open a new console")
MACOS_ODBC_FIX = "install unixODBC and Microsoft's driver: `brew install unixodbc msodbcsql18`"


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    fix: str


def parse(url: str) -> URL | Problem:
    try:
        return make_url(url)
    except ArgumentError:
        return Problem(f"{mask(url)!r} is not a database URL",
                       "write it as dialect+driver://user@host/database, e.g. mssql+pyodbc://… or sqlite:///file.db")


def odbc_fix() -> str:
    if sys.platform == "win32":
        return WINDOWS_ODBC_FIX
    if sys.platform == "darwin":
        return MACOS_ODBC_FIX
    return LINUX_ODBC_FIX


def install_fix(url: URL) -> str:
    extra = EXTRAS.get(url.get_backend_name())
    if extra is not None and (url.get_driver_name() in ("", extra[1], "pyodbc")):
        return f"pip install 'tradecredit[{extra[0]}]'"
    fix = f"install the DBAPI driver {url.get_driver_name()!r} for {url.get_backend_name()} (pip install …)"
    if extra is not None:  # a driver tradecredit does not bring: say which one it does
        fix += f", or use {url.get_backend_name()}+{extra[1]}:// and pip install 'tradecredit[{extra[0]}]'"
    return fix


def dialect_problem(url: URL) -> Problem | None:
    """An unknown dialect or driver name (``sqllite://``, ``postgresql+psycopg4://``), with a suggestion."""
    try:
        url.get_dialect()
    except NoSuchModuleError:
        backend = url.get_backend_name()
        if backend in KNOWN_DIALECTS:
            return Problem(f"unknown driver {url.get_driver_name()!r} for dialect {backend!r}",
                           f"use a driver SQLAlchemy knows for {backend}, e.g. "
                           + {"mssql": "mssql+pyodbc://", "postgresql": "postgresql+psycopg://",
                              "sqlite": "sqlite:///"}.get(backend, f"{backend}://"))
        close = difflib.get_close_matches(backend, KNOWN_DIALECTS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return Problem(f"unknown database dialect {backend!r}",
                       f"{hint}known dialects: {', '.join(KNOWN_DIALECTS)} (SQL Server: mssql+pyodbc://…)")
    return None


def driver_problem(url: URL) -> Problem | None:
    """The dialect is known but its DBAPI driver cannot be imported: what to install."""
    try:
        url.get_dialect().import_dbapi()
    except ImportError as exc:
        if url.get_backend_name() == "mssql":
            pyodbc = pyodbc_problem()
            if pyodbc is not None:
                return pyodbc
        return Problem(f"the {url.get_driver_name() or url.get_backend_name()} driver is not installed ({exc})",
                       install_fix(url))
    return None


def pyodbc_problem() -> Problem | None:
    """Why ``import pyodbc`` fails (the module is missing, or unixODBC's libodbc is), or None when it imports."""
    try:
        importlib.import_module("pyodbc")
    except ImportError as exc:
        text = str(exc)
        if isinstance(exc, ModuleNotFoundError) and exc.name == "pyodbc":
            return Problem(f"pyodbc is not installed ({text})", "pip install 'tradecredit[mssql]'")
        if "odbc" in text.lower():
            return Problem(f"pyodbc is installed but cannot load the ODBC driver manager: {text}", odbc_fix())
        return Problem(f"pyodbc cannot be imported: {text}",
                       "reinstall it: pip install --force-reinstall 'tradecredit[mssql]'; " + odbc_fix())
    return None


def odbc_drivers() -> list[str] | None:
    """The ODBC drivers installed (``pyodbc.drivers()``), or None when pyodbc cannot be imported."""
    try:
        pyodbc = importlib.import_module("pyodbc")
    except ImportError:
        return None
    return list(pyodbc.drivers())
