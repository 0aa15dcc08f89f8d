"""Run an ASGI app (a sandbox shop, the demo storefront) on loopback: in a background thread for tests and
the demo, or in the foreground for ``tradecredit sandbox ...``. Works the same on Windows and Linux.

Part of the dev kit: the web stack it needs (uvicorn, starlette, jinja2, python-multipart) comes with the
``sandbox`` extra, so a production install has none of it. Nothing here imports that stack at import time;
``require_sandbox_extra`` turns its absence into an error that says what to install.
"""

from __future__ import annotations

import functools
import importlib
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from .errors import ConfigError
from .report import ExitCode

if TYPE_CHECKING:
    import uvicorn

SANDBOX_EXTRA = "sandbox"
SANDBOX_MODULES = (("uvicorn",), ("starlette",), ("jinja2",), ("python_multipart", "multipart"))
"""What the sandboxes, the storefront and the demo import (python-multipart: its new name, else its old one)."""


def require_sandbox_extra(what: str = "the sandboxes and the demo") -> None:
    """Raise ``ConfigError`` naming the command to run when the ``sandbox`` extra is not installed."""
    missing = [names[0] for names in SANDBOX_MODULES if not any(_importable(n) for n in names)]
    if missing:
        raise ConfigError(
            f"{what}: needs tradecredit's dev kit, which is not installed (missing: {', '.join(missing)}); "
            f"install it with: pip install 'tradecredit[{SANDBOX_EXTRA}]'"
        )


P = ParamSpec("P")
R = TypeVar("R")


class MissingExtra(click.ClickException):
    """A command of the dev kit run without the extra: the message says what to install (exit code 3)."""

    exit_code = int(ExitCode.CONFIG)


def needs_sandbox_extra(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a click command callback (below its options) that needs the ``sandbox`` extra."""

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(command)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                require_sandbox_extra(what)
            except ConfigError as exc:
                raise MissingExtra(str(exc)) from None
            return command(*args, **kwargs)

        return checked

    return decorate


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, startup_timeout: float = 15.0, date_header: bool = True
) -> RunningServer:
    """Start ``app`` on ``host:port`` (0 = a free port) in a daemon thread; return once it accepts requests.

    ``date_header=False``: the app sends its own ``Date`` (a sandbox with a skewed clock), uvicorn none.
    """
    require_sandbox_extra()
    import uvicorn

    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="auto", access_log=False,
                            date_header=date_header)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"serve-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"server on {host}:{port} did not start")
        time.sleep(0.02)
    return RunningServer(url=f"http://{host}:{port}", server=server, thread=thread)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_forever(app: Any, host: str = "127.0.0.1", port: int = 8000, *, date_header: bool = True) -> None:
    """Serve in the foreground until Ctrl+C (``date_header=False``: the app sends its own ``Date``)."""
    require_sandbox_extra()
    import uvicorn

    if not is_loopback(host):
        # The sandboxes have test logins and an unauthenticated admin page: they are for one machine.
        print(f"WARNING: listening on {host}, not loopback: anyone who can reach this address can log in as any "
              "customer and change the settings. Use it only on a trusted network.", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="info", date_header=date_header)
