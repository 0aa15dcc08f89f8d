"""The answers of ``tradecredit init`` and the commented TOML written from them.

Secrets are never written: the SQL password and the shop's API key become ``{ env = "NAME" }`` or
``{ file = "path" }``; a database URL that carries a password is refused (give it as an environment variable).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.engine import make_url
from tradecredit.sdk import ConfigError, mask, mssql_url

ERPS = {"optima": "Comarch ERP Optima", "xl": "Comarch ERP XL"}
DEFAULT_DRIVER = "ODBC Driver 18 for SQL Server"
DEFAULT_API_KEY_ENV = "IDOSELL_API_KEY"
DEFAULT_PASSWORD_ENV = "TRADECREDIT_SQL_PASSWORD"
DEFAULT_URL_ENV = "TRADECREDIT_ERP_URL"


def _q(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


@dataclass
class Answers:
    erp: Literal["optima", "xl"] = "optima"
    # the ERP database: a URL (any SQLAlchemy dialect, e.g. PostgreSQL here), a URL in an environment variable,
    # or SQL Server's parts
    database_url: str | None = None
    database_url_env: str | None = None
    sql_host: str | None = None
    database: str | None = None
    auth: Literal["sql", "trusted"] = "sql"
    sql_user: str | None = None
    sql_password_env: str | None = None
    sql_password_file: str | None = None
    odbc_driver: str = DEFAULT_DRIVER
    trust_server_certificate: bool = False
    workstation: str | None = None  # Optima: the e-Sklep workstation (ESS_Nazwa) whose control mode applies
    branch_id: int | None = None  # XL: the branch (PcK_PicoID) whose PcK_LimitKrObs is the mode
    shop_url: str = ""
    api_key_env: str | None = DEFAULT_API_KEY_ENV
    api_key_file: str | None = None
    state_url: str = "sqlite:///tradecredit-state.db"

    def validate(self) -> None:
        if self.erp not in ERPS:
            raise ConfigError(f"ERP {self.erp!r}: choose optima or xl")
        if self.database_url is not None:
            url = make_url(self.database_url)
            if url.password:
                raise ConfigError(f"{mask(self.database_url)}: a URL with a password would be written into the "
                                  "config; put it in an environment variable and give --database-url-env NAME")
        elif self.database_url_env is None and not (self.sql_host and self.database):
            raise ConfigError("the ERP database: give the SQL Server host and database (or --database-url)")
        if self.database_url is None and self.database_url_env is None and self.auth == "sql" and not self.sql_user:
            raise ConfigError("SQL login: give the user name (--sql-user), or choose --auth trusted")
        if not self.shop_url.startswith(("http://", "https://")):
            raise ConfigError(f"shop URL {self.shop_url!r}: give the shop's address, https://…")
        if (self.api_key_env is None) == (self.api_key_file is None):
            raise ConfigError("the API key: give exactly one of an environment variable and a file")
        if self.erp == "xl" and self.sql_host and self.auth == "sql" and self.database_url_env is None:
            # XL's source takes one URL; its password must stay out of the file, so the URL goes to a variable.
            self.database_url_env = DEFAULT_URL_ENV

    def driver_number(self) -> int:
        found = re.search(r"\b(17|18)\b", self.odbc_driver)
        if not found:
            raise ConfigError(f"ODBC driver {self.odbc_driver!r}: tradecredit supports the Microsoft ODBC Driver 17 "
                              "or 18 for SQL Server")
        return int(found.group(1))

    def sql_server_url(self) -> str:
        """The mssql+pyodbc URL (no password) of the SQL Server parts."""
        assert self.sql_host and self.database
        return mssql_url(self.sql_host, self.database, username=self.sql_user if self.auth == "sql" else None,
                         trusted=self.auth == "trusted", driver=self.odbc_driver,
                         trust_server_certificate=self.trust_server_certificate)

    def secret_to_set(self) -> list[str]:
        """What the user must still put in place (variables and files the config refers to)."""
        todo = []
        if self.database_url_env:
            what = (f"the full URL, e.g. {mask(self.sql_server_url())} with :PASSWORD after the user name"
                    if self.sql_host else "the ERP database's SQLAlchemy URL")
            todo.append(f"environment variable {self.database_url_env}: {what}")
        if self.database_url is None and self.database_url_env is None and self.auth == "sql":
            if self.sql_password_file:
                todo.append(f"file {self.sql_password_file}: the SQL login's password (readable by the service only)")
            else:
                todo.append(f"environment variable {self.sql_password_env or DEFAULT_PASSWORD_ENV}: the SQL login's "
                            "password")
        if self.api_key_file:
            todo.append(f"file {self.api_key_file}: the IdoSell Admin API key")
        else:
            todo.append(f"environment variable {self.api_key_env}: the IdoSell Admin API key")
        return todo


def _source(a: Answers) -> list[str]:
    lines = [f"[sources.{a.erp}]", f"plugin = {_q(a.erp)}"]
    if a.database_url_env:
        lines += [f"# the database URL lives in ${a.database_url_env} (it carries the password)",
                  f"url = {{ env = {_q(a.database_url_env)} }}"]
    elif a.database_url:
        lines += ["# any SQLAlchemy URL; for SQL Server mssql+pyodbc://… (docs/plugins/" + a.erp + ".md)",
                  f"url = {_q(a.database_url)}"]
    elif a.erp == "xl":
        lines += ["# Windows authentication: the service account needs SELECT on the company database",
                  f"url = {_q(a.sql_server_url())}"]
    lines += _mode_lines(a)
    if a.erp == "optima" and not a.database_url and not a.database_url_env:
        lines += ["", f"[sources.{a.erp}.sqlserver]", f"server = {_q(a.sql_host or '')}   # host, host,port or "
                  "host\\INSTANCE", f"database = {_q(a.database or '')}   # the company database, e.g. CDN_Firma"]
        if a.auth == "trusted":
            lines += ["trusted = true   # Windows authentication: the account the service runs as"]
        else:
            lines += [f"username = {_q(a.sql_user or '')}   # a login with SELECT only (tradecredit never writes)"]
            secret = (f"{{ file = {_q(a.sql_password_file)} }}" if a.sql_password_file
                      else f"{{ env = {_q(a.sql_password_env or DEFAULT_PASSWORD_ENV)} }}")
            lines += [f"password = {secret}   # a reference: the password itself is never in this file"]
        lines += [f"driver = {a.driver_number()}   # {a.odbc_driver}"]
        if a.trust_server_certificate:
            lines += ["trust_server_certificate = true   # the server's certificate is self-signed"]
    return lines


def _mode_lines(a: Answers) -> list[str]:
    if a.erp == "optima":
        if a.workstation is None:
            return ["# the control mode (brak / ostrzeżenie / blokada) of the database's only e-Sklep workstation;",
                    "# with several, name one: workstation = \"e-Sklep\""]
        return ["# the e-Sklep workstation whose control mode (brak / ostrzeżenie / blokada) applies",
                f"workstation = {_q(a.workstation)}"]
    if a.branch_id is None:
        return ["# the control mode is read from the branch (PcK_PicoID) given by branch_id; or set control_mode",
                "control_mode = \"block\""]
    return ["# the branch (PcK_PicoID) whose PcK_LimitKrObs (Zezwalaj / Ostrzegaj / Blokuj) is the control mode",
            f"branch_id = {a.branch_id}"]


def render_config(a: Answers) -> str:
    """The commented config for ``a`` (validated first; raises ``ConfigError``)."""
    a.validate()
    key = (f"{{ file = {_q(a.api_key_file)} }}" if a.api_key_file else f"{{ env = {_q(a.api_key_env or '')} }}")
    pipeline = f"{a.erp}-to-idosell"
    out = [
        f"# Written by `tradecredit init` for {ERPS[a.erp]} → IdoSell. Every option: docs/configuration.md.",
        "# Secrets are references ({ env = \"NAME\" } or { file = \"path\" }), never the values.",
        "# Next: tradecredit doctor -c THIS_FILE, then tradecredit run -c THIS_FILE --dry-run",
        "",
        "[state]",
        "# runs, the ledger of what the shop confirmed, the audit trail (relative paths: beside this file)",
        f"url = {_q(a.state_url)}",
        "",
        *_source(a),
        "",
        "[targets.idosell]",
        "plugin = \"idosell\"",
        f"base_url = {_q(a.shop_url.rstrip('/'))}",
        "# an Admin API key with the module 'clients': read and write",
        f"api_key = {key}",
        "",
        "[[pipelines]]",
        f"name = {_q(pipeline)}",
        f"source = {_q(a.erp)}",
        "target = \"idosell\"",
        "every = \"15m\"   # for `tradecredit service run`",
        "",
    ]
    return "\n".join(out)
