"""eshop plugin: Comarch e-Sklep B2B as a target, through the tradecredit credit-feed contract.

Registers the ``eshop`` target and the ``tradecredit sandbox eshop`` command, and ships the B2B storefront
that implements the receiving end of the feed and the customer-facing rules of the seed (page header, customer
zone, checkout control). Python API for the demo and tests: ``start_storefront`` (see docs/plugins/eshop.md).
"""

from __future__ import annotations

from typing import Any

from tradecredit.sdk import hookimpl

from .storefront import RunningStorefront, Storefront, open_storefront, start_storefront
from .target import EshopOptions, EshopTarget

__all__ = ["EshopOptions", "EshopTarget", "RunningStorefront", "Storefront", "open_storefront", "start_storefront"]


@hookimpl
def register_targets(register: Any) -> None:
    register("eshop", EshopTarget)


@hookimpl
def register_commands(cli: Any) -> None:
    from .cli import sandbox_eshop

    cli.commands["sandbox"].add_command(sandbox_eshop, "eshop")
