"""The credit controller's world: the end-to-end world of tests/credit (an Optima database row by row, the IdoSell
sandbox and the e-Sklep storefront on loopback), a TOML config file over it, and the tradecredit CLI."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

_spec = importlib.util.spec_from_file_location("tc_credit_world", Path(__file__).parents[1] / "credit" / "conftest.py")
assert _spec is not None and _spec.loader is not None
credit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(credit)

world = credit.world  # the fixture, reused as is
PASSWORD = "konsola-Haslo-2291"
PAST = datetime(2025, 2, 1)  # due long ago: overdue whenever the test runs
FUTURE = datetime(2099, 1, 1)  # never due


class Book:
    """Three customers in Optima (BLOCK): K000004 over its overdue limit, K000002 well within its limit, K000007
    using 90 % of it. Both shops have accounts for all three."""

    def __init__(self, world: Any, url: str, tmp: Path) -> None:
        self.world, self.url = world, url
        k4 = credit.optima_card("K000004", limit="2300.00", used="1367.16", overdue_limit="0.00")
        k2 = credit.optima_card("K000002", limit="10000.00", used="2500.00")
        k7 = credit.optima_card("K000007", limit="5000.00", used="4500.00")
        payments = [credit.optima_payment(k4, "367.16", due=PAST), credit.optima_payment(k4, "1000.00", due=FUTURE),
                    credit.optima_payment(k2, "2500.00", due=FUTURE), credit.optima_payment(k7, "4500.00", due=FUTURE)]
        credit.make_optima(url, [k4, k2, k7], payments)
        world.accounts("K000004", "K000002", "K000007")
        data = world.data({"plugin": "optima", "url": url})
        data["console"] = {"password": PASSWORD}
        self.path = tmp / "tradecredit.toml"
        self.path.write_text(credit.toml(data), encoding="utf-8")
        from tradecredit.core.config import parse_config

        self.config = parse_config(data, world.host)
        self.runner = CliRunner()

    def cli(self, *args: str, code: int | None = 0, env: dict[str, str] | None = None) -> Result:
        from tradecredit.core.cli import cli

        argv = [*args, "-c", str(self.path)]
        result = self.runner.invoke(cli, argv, env=env)
        if code is not None:
            assert result.exit_code == code, result.output + repr(result.exception)
        return result

    def set_limit(self, code: str, limit: str) -> None:
        from sqlalchemy import update

        k = credit.OPTIMA.kontrahenci
        credit.run_sql(self.url, update(k).where(k.c.Knt_Kod == code).values(Knt_LimitKredytu=Decimal(limit)))

    def run_all(self) -> tuple[Any, Any]:
        return self.world.run_both(self.config, as_of=datetime.now().astimezone())


@pytest.fixture
def book(world: Any, tc_sqlite_url: str, tmp_path: Path) -> Book:
    return Book(world, tc_sqlite_url, tmp_path)
