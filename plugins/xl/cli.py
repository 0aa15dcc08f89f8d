"""``tradecredit xl ...`` commands."""

from __future__ import annotations

import time
from datetime import date, datetime

import click
from tradecredit.sdk import ConfigError, mask


@click.group("xl")
def xl_group() -> None:
    """Comarch ERP XL source: demo data and helpers."""


@xl_group.command("make-demo-db")
@click.argument("url")
@click.option("--customers", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="same seed, same data")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="date the data is built around")
def make_demo_db(url: str, customers: int, seed: int, today: datetime | None) -> None:
    """Create a deterministic XL-shaped demo database at URL (a SQLAlchemy URL, e.g. sqlite:///xl-demo.db)."""
    from .demo import generate, write

    day = today.date() if today is not None else date.today()
    started = time.perf_counter()
    try:
        counts = write(url, generate(customers, seed=seed, today=day))
    except ConfigError as exc:
        raise click.ClickException(mask(exc)) from None
    elapsed = time.perf_counter() - started
    rows = ", ".join(f"{name} {n}" for name, n in counts.items())
    click.echo(f"XL demo database at {mask(url)} for {day.isoformat()} (seed {seed}): {rows}; {elapsed:.1f} s")
