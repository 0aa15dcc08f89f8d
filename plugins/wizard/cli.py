"""``tradecredit init``: asks, or takes flags (``--yes``: never asks), writes the config, runs ``check``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from tradecredit.sdk import ConfigError, check_config, load_config, mask, odbc_drivers

from .config import DEFAULT_API_KEY_ENV, DEFAULT_DRIVER, DEFAULT_PASSWORD_ENV, ERPS, Answers, render_config

MARKS = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL"}


def _ask(value: Any, yes: bool, text: str, **kwargs: Any) -> Any:
    """The flag's value; else the answer to ``text`` (with ``--yes``: the default, or a usage error)."""
    if value is not None:
        return value
    if yes:
        if "default" in kwargs:
            return kwargs["default"]
        raise click.UsageError(f"--yes: {text} has no default; give it as a flag")
    return click.prompt(text, **kwargs)


def _driver_choices() -> tuple[list[str], str | None]:
    """The SQL Server ODBC drivers installed here, and why none can be listed."""
    drivers = odbc_drivers()
    if drivers is None:
        return [], "pyodbc cannot be imported here (`tradecredit doctor` says why and what to install)"
    found = [d for d in drivers if "SQL Server" in d]
    return found, None if found else "no SQL Server ODBC driver is installed (`tradecredit doctor` says which)"


@click.command("init")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("tradecredit.toml"), show_default=True, help="Config file to write.")
@click.option("--erp", type=click.Choice(sorted(ERPS)), help="Comarch ERP Optima or XL.")
@click.option("--sql-host", help=r"SQL Server: host, host,port or host\INSTANCE.")
@click.option("--database", help="The company database, e.g. CDN_Firma.")
@click.option("--auth", type=click.Choice(["sql", "trusted"]), help="SQL login, or Windows (trusted) authentication.")
@click.option("--sql-user", help="SQL login (a login with SELECT only).")
@click.option("--sql-password-env", help=f"Environment variable holding the SQL password (default "
                                         f"{DEFAULT_PASSWORD_ENV}).")
@click.option("--sql-password-file", help="File holding the SQL password (instead of a variable).")
@click.option("--odbc-driver", help=f"ODBC driver name (default: the newest installed, else {DEFAULT_DRIVER!r}).")
@click.option("--trust-server-certificate", is_flag=True, default=None,
              help="SQL Server's certificate is self-signed (TrustServerCertificate=yes).")
@click.option("--database-url", help="Instead of the SQL Server parts: any SQLAlchemy URL without a password "
                                     "(e.g. postgresql+psycopg://tc_reader@db/optima).")
@click.option("--database-url-env", help="Instead of the parts: an environment variable holding the URL.")
@click.option("--workstation", help="Optima: the e-Sklep workstation (ESS_Nazwa); default the database's only one.")
@click.option("--branch-id", type=int, help="XL: the branch (PcK_PicoID) whose setting is the control mode.")
@click.option("--shop", type=click.Choice(["idosell"]), default="idosell", show_default=True, help="The shop.")
@click.option("--shop-url", help="The IdoSell shop's address, https://….")
@click.option("--api-key-env", help=f"Environment variable holding the API key (default {DEFAULT_API_KEY_ENV}).")
@click.option("--api-key-file", help="File holding the API key (instead of a variable).")
@click.option("--state-url", default=None, help="State store URL (default sqlite:///tradecredit-state.db).")
@click.option("-y", "--yes", is_flag=True, help="Ask nothing: flags and defaults only (for scripts).")
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.option("--no-check", is_flag=True, help="Do not run `check` on the written config.")
def init_command(output: Path, erp: str | None, sql_host: str | None, database: str | None, auth: str | None,
                 sql_user: str | None, sql_password_env: str | None, sql_password_file: str | None,
                 odbc_driver: str | None, trust_server_certificate: bool | None, database_url: str | None,
                 database_url_env: str | None, workstation: str | None, branch_id: int | None, shop: str,
                 shop_url: str | None, api_key_env: str | None, api_key_file: str | None, state_url: str | None,
                 yes: bool, force: bool, no_check: bool) -> None:
    """Write a first config: the ERP, its SQL Server database, the shop; then run `check` on it.

    \b
    Asks each question it has no flag for (or, with --yes, takes the default). Secrets are written as references
    (an environment variable or a file), never as values. Then: tradecredit doctor, a dry run, the first sync,
    tradecredit service install.
    """
    if output.exists() and not force:
        raise click.UsageError(f"{output} exists; give --force to overwrite it, or -o another file")
    a = Answers()
    a.erp = _ask(erp, yes, "ERP (optima / xl)", type=click.Choice(sorted(ERPS)), default="optima")
    if database_url is None and database_url_env is None:
        a.sql_host = _ask(sql_host, yes, r"SQL Server host (host, host,port or host\INSTANCE)")
        a.database = _ask(database, yes, "Company database (e.g. CDN_Firma)")
        a.auth = _ask(auth, yes, "Authentication (sql = SQL login, trusted = Windows)",
                      type=click.Choice(["sql", "trusted"]), default="sql")
        if a.auth == "sql":
            a.sql_user = _ask(sql_user, yes, "SQL login (SELECT only)", default="tc_reader")
            if sql_password_file is not None:
                a.sql_password_file = sql_password_file
            elif a.erp == "optima":
                a.sql_password_env = _ask(sql_password_env, yes, "Environment variable with its password",
                                          default=DEFAULT_PASSWORD_ENV)
        found, why = _driver_choices()
        if why and odbc_driver is None:
            click.echo(f"  note: {why}", err=True)
        default_driver = sorted(found)[-1] if found else DEFAULT_DRIVER
        if found and odbc_driver is None and not yes:
            click.echo("  ODBC drivers installed: " + ", ".join(found))
        a.odbc_driver = _ask(odbc_driver, yes, "ODBC driver", default=default_driver)
        a.trust_server_certificate = _ask(trust_server_certificate, yes,
                                          "Is the server's certificate self-signed (TrustServerCertificate)?",
                                          type=bool, default=False)
    else:
        a.database_url, a.database_url_env = database_url, database_url_env
    if a.erp == "optima":
        a.workstation = workstation if workstation is not None else (
            None if yes else click.prompt("e-Sklep workstation (ESS_Nazwa; empty: the database's only one)",
                                          default="", show_default=False) or None)
    else:
        a.branch_id = _ask(branch_id, yes, "XL branch (PcK_PicoID) whose setting is the control mode", type=int,
                           default=1)
    del shop  # IdoSell is the only shop the wizard knows so far
    a.shop_url = _ask(shop_url, yes, "IdoSell shop address (https://…)")
    if api_key_file is not None:
        a.api_key_env, a.api_key_file = None, api_key_file
    else:
        a.api_key_env = _ask(api_key_env, yes, "Environment variable with the IdoSell API key",
                             default=DEFAULT_API_KEY_ENV)
    if state_url is not None:
        a.state_url = state_url
    try:
        text = render_config(a)
    except ConfigError as exc:
        raise click.UsageError(mask(str(exc))) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}")
    click.echo("Before the first run, put in place (secrets are never written into the file):")
    for item in a.secret_to_set():
        click.echo(f"  - {item}")
    code = 0 if no_check else _check(output)
    click.echo("")
    click.echo("Next steps:")
    click.echo(f"  tradecredit doctor -c {output}            # what is missing before the first sync, with the fix")
    click.echo(f"  tradecredit run -c {output} --dry-run     # what the first sync would overwrite in the shop")
    click.echo(f"  tradecredit run -c {output}               # the first sync")
    click.echo(f"  tradecredit service install -c {output} --platform windows|systemd   # run it on a schedule")
    sys.exit(code)


def _check(path: Path) -> int:
    click.echo("")
    click.echo(f"tradecredit check -c {path}:")
    try:
        lines = check_config(load_config(path))
    except ConfigError as exc:
        click.echo(mask(f"  not checked: {exc}"))
        click.echo("  (set the variables and files listed above, then run `tradecredit check` or `doctor`)")
        return 3
    for line in lines:
        r = line.result
        click.echo(mask(f"  {MARKS[r.status.value]} {line.subject}: {r.name}" + (f" — {r.detail}" if r.detail else "")))
    return 1 if any(line.result.status.value == "fail" for line in lines) else 0
