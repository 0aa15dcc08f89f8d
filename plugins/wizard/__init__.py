"""``tradecredit init``: the setup wizard (entry point ``wizard``), a plugin because it asks about Comarch ERP
(Optima's e-Sklep workstation, XL's branch) and IdoSell, which core must not know.

It asks the questions (or takes them as flags, for scripts), writes a commented config in which every secret
is a reference (an environment variable or a file, never the value), runs ``check`` on it and says what to do
next. ``render_config`` is the part the tests and ``tradecredit init`` share.
"""

from __future__ import annotations

import click
from tradecredit.sdk import hookimpl

from .config import Answers, render_config

__all__ = ["Answers", "render_config"]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .cli import init_command

    cli.add_command(init_command)
