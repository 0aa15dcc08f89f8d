"""IdoSell: the target plugin (writes trade credit to IdoSell shops) and the IdoSell sandbox server.

Registered through the ``tradecredit`` entry-point group: target ``idosell`` and the CLI command
``tradecredit sandbox idosell``. See docs/plugins/idosell.md.
"""

from __future__ import annotations

from typing import Any

import click
from tradecredit.sdk import RegisterTarget, hookimpl, require_sandbox_extra

from .target import IdoSellOptions, IdoSellTarget

__all__ = ["IdoSellOptions", "IdoSellTarget", "register_commands", "register_targets", "start_sandbox"]


@hookimpl
def register_targets(register: RegisterTarget) -> None:
    register("idosell", IdoSellTarget)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .cli import sandbox_cmd

    group = cli.commands.get("sandbox")
    if isinstance(group, click.Group):
        group.add_command(sandbox_cmd, "idosell")


def start_sandbox(*args: Any, **kwargs: Any) -> Any:
    """Start the IdoSell sandbox in a background thread (see ``sandbox.start_sandbox``)."""
    require_sandbox_extra("the IdoSell sandbox")
    from .sandbox import start_sandbox as start

    return start(*args, **kwargs)
