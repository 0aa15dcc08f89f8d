"""``tradecredit doctor``: the command around ``core.doctor`` (registered on the root group in ``core.cli``)."""

from __future__ import annotations

import json
import sys

import click

from .adapters import CheckStatus
from .report import ExitCode
from .secrets import mask

MARKS = {CheckStatus.OK: "OK  ", CheckStatus.WARN: "WARN", CheckStatus.FAIL: "FAIL"}


@click.command("doctor")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False),
              envvar="TRADECREDIT_CONFIG", help="Path of the TOML config file (or $TRADECREDIT_CONFIG).")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as a JSON list (id, status, subject, message, "
                                                       "fix).")
def doctor_command(config_path: str, as_json: bool) -> None:
    """Everything that can go wrong before the first sync, each with the fix spelled out.

    \b
    Python version; pyodbc and why it does not import (unixODBC missing); the ODBC drivers; each database
    URL's dialect and driver; connecting; the expected tables and columns; that the ERP login is read-only
    (an UPDATE matching no row, in a transaction that is rolled back, must be refused); the state store is
    writable; the shop is reachable, its clock, the API key's scopes. Writes nothing.
    Exit code 0 when nothing FAILed (warnings included), 1 when a check failed, 3 when the config does not load.
    Each check's id is a heading of the README's troubleshooting section.
    """
    from .doctor import run_doctor

    lines, loaded = run_doctor(config_path)
    if as_json:
        click.echo(mask(json.dumps([line.to_dict() for line in lines], indent=2, ensure_ascii=False)))
    else:
        for line in lines:
            click.echo(mask(f"{MARKS[line.status]} {line.id:18} {line.subject}: {line.message}"))
            if line.fix:
                click.echo(mask(f"     fix: {line.fix}"))
    if not loaded:
        sys.exit(int(ExitCode.CONFIG))
    failed = any(line.status is CheckStatus.FAIL for line in lines)
    sys.exit(int(ExitCode.ERROR if failed else ExitCode.OK))
