"""The Comarch ERP XL source plugin: ``plugin = "xl"`` in a ``[sources.NAME]`` table. See docs/plugins/xl.md."""

from __future__ import annotations

import click
from tradecredit.sdk import RegisterSource, hookimpl

from .options import XlOptions
from .source import XlSource

__all__ = ["XlOptions", "XlSource"]


@hookimpl
def register_sources(register: RegisterSource) -> None:
    register("xl", XlSource)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .cli import xl_group

    cli.add_command(xl_group)
