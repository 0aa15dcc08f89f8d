"""eshop plugin: Comarch e-Sklep B2B as a target, through the tradecredit credit-feed contract.

Registers the ``eshop`` target and the ``tradecredit sandbox eshop`` command, and ships the B2B storefront
that implements the receiving end of the feed and the customer-facing rules of the seed (page header, customer
zone, checkout control). Python API for the demo and tests: ``start_storefront`` (see docs/plugins/eshop.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from tradecredit.sdk import RegisterTarget, hookimpl, require_sandbox_extra

from .target import EshopOptions, EshopTarget

if TYPE_CHECKING:
    from .storefront import RunningStorefront, Storefront, open_storefront, start_storefront

_STOREFRONT = frozenset({"RunningStorefront", "Storefront", "open_storefront", "start_storefront"})

__all__ = ["EshopOptions", "EshopTarget", "RunningStorefront", "Storefront", "open_storefront", "start_storefront"]


@hookimpl
def register_targets(register: RegisterTarget) -> None:
    register("eshop", EshopTarget)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .cli import sandbox_eshop

    group = cli.commands.get("sandbox")
    if isinstance(group, click.Group):
        group.add_command(sandbox_eshop, "eshop")


def __getattr__(name: str) -> Any:
    # The storefront is the dev kit (starlette, jinja2): imported on first use, never by the target.
    if name in _STOREFRONT:
        require_sandbox_extra("the e-Sklep demo storefront")
        from . import storefront

        return getattr(storefront, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
