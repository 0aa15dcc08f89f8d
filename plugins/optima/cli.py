"""``tradecredit optima …`` commands (added through the plugin's ``register_commands`` hook)."""

from __future__ import annotations

from datetime import datetime

import click
from tradecredit.sdk import mask


@click.group("optima")
def optima_group() -> None:
    """Comarch ERP Optima source: demo database and helpers."""


@optima_group.command("make-demo-db")
@click.argument("url")
@click.option("--customers", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--payments", type=click.IntRange(min=0), default=None, help="payment rows (default 10 per customer)")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--base-date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="'today' of the data")
@click.option("--replace", is_flag=True, help="drop the Optima demo tables first")
def make_demo_db_command(
    url: str, customers: int, payments: int | None, seed: int, base_date: datetime | None, replace: bool
) -> None:
    """Create a deterministic Optima-shaped database at URL (SQLite or PostgreSQL)."""
    from .demo import make_demo_db

    try:
        stats = make_demo_db(url, customers, payments=payments, seed=seed,
                             base_date=base_date.date() if base_date else None, replace=replace)
    except Exception as exc:  # noqa: BLE001 - printed masked, clean exit code
        raise click.ClickException(mask(f"cannot build the demo database at {url}: {exc}")) from None
    click.echo(f"{mask(url)}: {stats.customers} customers, {stats.payments} payments in {stats.seconds:.1f} s")
