"""``tradecredit sandbox idosell``: serve the IdoSell sandbox in the foreground until Ctrl+C."""

from __future__ import annotations

import errno
import socket
import sys
from typing import Literal

import click
from tradecredit.sdk import needs_sandbox_extra

from .faults import parse_fault
from .models import DEFAULT_API_KEY


def _claim_port(host: str, port: int) -> None:
    """Bind ``host:port`` once so an address in use is a clear error before anything is printed or created.

    uvicorn binds the same way right after (``SO_REUSEADDR`` on POSIX, as uvicorn sets it; on Windows that
    option would let a second process share the port, so the default exclusive bind is used there).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        if sys.platform != "win32":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)):
                raise click.ClickException(
                    f"cannot listen on {host}:{port}: the port is already in use (another sandbox?); "
                    "stop that process or choose another --port") from None
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _scopes(text: str) -> dict[str, str]:
    """``clients:r,orders:w`` → ``{"clients": "r", "orders": "w"}``."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        module, _, level = part.partition(":")
        if level not in ("r", "w"):
            raise click.BadParameter(f"{part!r}: expected module:r or module:w")
        out[module.strip()] = level
    return out


@click.command("idosell")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (loopback by default)")
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite file for the shop's state (default: in memory)")
@click.option("--api-key", default=DEFAULT_API_KEY, show_default=True, help="the key with full scopes")
@click.option("--key", "extra_keys", multiple=True, metavar="KEY=SCOPES",
              help="another key with limited scopes, e.g. readonly=clients:r (repeatable)")
@click.option("--fault", "faults", multiple=True, metavar="KIND[:opt=val,...]",
              help="inject a fault: 429:times=3,retry_after=1 | 500:times=5 | 422:fault_string=… | slow:delay=5 | "
                   "drop:times=1 | partial:refs=KH-1|KH-2 (repeatable)")
@click.option("--balance-sign", type=click.Choice(["negative", "positive"]), default="negative", show_default=True,
              help="how the shop reads clientBalanceAmountExternal: negative = debt is sent negative")
@click.option("--zero-limit-means", type=click.Choice(["no_credit", "no_limit"]), default="no_credit",
              show_default=True)
@click.option("--client", "clients", multiple=True, metavar="LOGIN=CODE",
              help="seed a shop account with this clientCodeExternal (repeatable)")
@click.option("--clock-offset", type=float, default=0.0, metavar="SECONDS",
              help="the shop's clock is this far ahead (negative: behind) in its Date header; `tradecredit doctor` "
                   "reports the skew (shop.clock)")
@needs_sandbox_extra("tradecredit sandbox idosell")
def sandbox_cmd(host: str, port: int, db_path: str | None, api_key: str, extra_keys: tuple[str, ...],
                faults: tuple[str, ...], balance_sign: Literal["negative", "positive"],
                zero_limit_means: Literal["no_credit", "no_limit"], clients: tuple[str, ...],
                clock_offset: float) -> None:
    """A local IdoSell Admin API v6 (clients, orders) for trying tradecredit without a shop."""
    from .sandbox import Sandbox  # the web stack: only with the sandbox extra

    keys = {}
    for spec in extra_keys:
        key, sep, scopes = spec.partition("=")
        if not sep:
            raise click.BadParameter(f"{spec!r}: expected KEY=module:level,...", param_hint="--key")
        keys[key] = _scopes(scopes)
    try:
        parsed = [parse_fault(f) for f in faults]
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from None
    _claim_port(host, port)
    sandbox = Sandbox(db_path, api_key, keys=keys, balance_sign=balance_sign, zero_limit_means=zero_limit_means,
                      clock_offset=clock_offset)
    for spec in clients:
        login, _, code = spec.partition("=")
        if sandbox.client(login) is None:
            sandbox.add_client(login, code or None, firm=login)
    for fault in parsed:
        sandbox.faults.add(fault)
    from tradecredit.sdk import serve_forever

    # Printed only once the port was bound: a banner followed by a bind error would look like a running shop.
    click.echo(f"IdoSell sandbox on http://{host}:{port} (API http://{host}:{port}/api/admin/v6/; what the shop "
               f"holds, for people: http://{host}:{port}/)")
    click.echo(f"state: {db_path or 'in memory'}; {len(sandbox.clients())} account(s); "
               f"{len(parsed)} fault rule(s); Ctrl+C to stop")
    try:
        serve_forever(sandbox.app, host, port, date_header=False)  # the sandbox sends its own Date
    finally:
        sandbox.store.close()
