"""``tradecredit sandbox eshop``: serve the B2B storefront in the foreground."""

from __future__ import annotations

from pathlib import Path

import click
from tradecredit.sdk import needs_sandbox_extra, serve_forever


@click.command(name="eshop")
@click.option("--host", default="127.0.0.1", show_default=True, help="interface to listen on")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--db", "db", default="tradecredit-eshop.db", show_default=True, type=click.Path(path_type=Path),
              help="SQLite file with the storefront's state (created when missing)")
@click.option("--api-key", envvar="TRADECREDIT_ESHOP_API_KEY", default=None,
              help="key the feed must send in X-API-Key (default: the one stored in --db, else a new random one)")
@click.option("--limits/--no-limits", "limits", default=None,
              help="set the admin switch 'Limity kredytu i płatności' (default: keep the stored setting)")
@click.option("--max-age-hours", type=float, default=24, show_default=True,
              help="credit data older than this is stale at checkout (only for customers sent without the "
                   "config's [engine] policy, i.e. by a version-1 feed; the eshop target always sends it)")
@click.option("--stale-fallback", type=click.Choice(["decide", "warn", "block", "allow"]), default="decide",
              show_default=True, help="what checkout does with stale data (same fallback rule as --max-age-hours)")
@click.option("--admin-password", envvar="TRADECREDIT_ESHOP_ADMIN_PASSWORD", default=None,
              help="protect /admin with this password (or $TRADECREDIT_ESHOP_ADMIN_PASSWORD; default: open demo page)")
@needs_sandbox_extra("tradecredit sandbox eshop")
def sandbox_eshop(
    host: str, port: int, db: Path, api_key: str | None, limits: bool | None, max_age_hours: float,
    stale_fallback: str, admin_password: str | None,
) -> None:
    """A B2B storefront (Comarch e-Sklep stand-in) that receives the credit feed, on loopback."""
    from .storefront import open_storefront, stale_policy  # the web stack: only with the sandbox extra

    shop = open_storefront(db, api_key=api_key, limits_enabled=limits,
                           policy=stale_policy(max_age_hours, stale_fallback), admin_password=admin_password)
    base = f"http://{host}:{port}"
    click.echo(f"storefront  {base}/   (admin: {base}/admin, state: {db.resolve()})")
    click.echo(f"feed        POST {base}/api/credit-feed/v1/customers  X-API-Key: {shop.api_key}")
    click.echo(f"admin switch 'Limity kredytu i płatności': {'on' if shop.limits_enabled else 'off'}")
    click.echo("target config:")
    click.echo(f'  [targets.store]\n  plugin = "eshop"\n  base_url = "{base}"\n  api_key = "{shop.api_key}"')
    serve_forever(shop.app, host=host, port=port)
