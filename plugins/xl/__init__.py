"""The Comarch ERP XL source plugin: ``plugin = "xl"`` in a ``[sources.NAME]`` table. See docs/plugins/xl.md."""

from __future__ import annotations

from typing import Any

from tradecredit.sdk import hookimpl

from .options import XlOptions
from .source import XlSource

__all__ = ["XlOptions", "XlSource"]


@hookimpl
def register_sources(register: Any) -> None:
    register("xl", XlSource)


@hookimpl
def register_commands(cli: Any) -> None:
    from .cli import xl_group

    cli.add_command(xl_group)
