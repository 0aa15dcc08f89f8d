"""``tradecredit console``: serve the read-only web console (core.console.app) until stopped."""

from __future__ import annotations

import click
from tradecredit.core.serving import is_loopback, needs_sandbox_extra


@click.command("console")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False),
              envvar="TRADECREDIT_CONFIG", help="Path of the TOML config file (or $TRADECREDIT_CONFIG).")
@click.option("--listen", default=None, help="host:port (default: [console] listen, 127.0.0.1:8765).")
@click.option("--allow-remote", is_flag=True, help="Allow a listen address that is not loopback (put TLS in front).")
@needs_sandbox_extra("the web console (pip install 'tradecredit[console]')")
def console_command(config_path: str, listen: str | None, allow_remote: bool) -> None:
    """Serve the credit controller's web console: pipelines, runs, customers (filters, CSV/xlsx export), a
    customer's explanation and history. Read-only; login with [console] password. Loopback unless
    --allow-remote. Stop with Ctrl+C.
    """
    from tradecredit.core.config import ConsoleConfig, load_config
    from tradecredit.core.errors import ConfigError
    from tradecredit.core.serving import serve_forever

    from .app import create_app

    cfg = load_config(config_path)
    if listen:
        cfg = cfg.model_copy(update={"console": cfg.console.model_copy(update={
            "listen": ConsoleConfig.model_validate({"listen": listen}).listen})})
    host, port = cfg.console.address()
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(f"[console] listen {host}:{port} is not a loopback address: the console shows customer "
                          "data; pass --allow-remote (and put TLS in front of it) if you mean it")
    app = create_app(cfg)
    click.echo(f"tradecredit console on http://{host}:{port}/ (Ctrl+C stops it)", err=True)
    serve_forever(app, host, port)
