"""Comarch ERP Optima source plugin: trade-credit limits, debt and overdue payments from an Optima database.

Registered through the same entry-point path as third-party plugins (``optima = "tradecredit.plugins.optima"``).
"""

from __future__ import annotations

from typing import Any

import click
from tradecredit.sdk import RegisterSource, hookimpl

from .source import OptimaOptions, OptimaSource

__all__ = ["OptimaOptions", "OptimaSource", "make_demo_db"]


def make_demo_db(url: str, customers: int = 1000, **kwargs: Any) -> Any:
    """Build a deterministic Optima-shaped demo database (see ``demo.make_demo_db``)."""
    from .demo import make_demo_db as build

    return build(url, customers=customers, **kwargs)


@hookimpl
def register_sources(register: RegisterSource) -> None:
    register("optima", OptimaSource)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .cli import optima_group

    cli.add_command(optima_group)
