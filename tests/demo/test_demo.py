"""`tradecredit demo` end to end on the embedded default (SQLite files, loopback sandboxes)."""

from __future__ import annotations

from click.testing import CliRunner
from tradecredit.core.cli import cli
from tradecredit.plugins.demo import _storefront_factory, run_demo


def test_demo_walks_through_every_step(tmp_path):
    results = run_demo(tmp_path / "demo", customers=300, storefront=_storefront_factory())
    assert results["dry_run_writes"] == 0, "the dry run must not write"
    assert results["first_written"] > 200
    assert results["second_writes"] == 0, "an unchanged rerun must send no write request"
    assert results["third_written"] == 3, "only the three changed customers are sent"
    assert results["orders"] == (True, False), "one order within the limit, one refused by the shop's rule"
    assert results["eshop_written"] > 200, "make demo also fills the storefront (the cards of its workstations)"
    # a company over its limit in each control mode: the storefront blocks, warns, lets it through
    assert results["eshop_modes"] == {"block": "block", "warn": "warn", "allow": "allow"}
    assert (tmp_path / "demo" / "tradecredit.toml").is_file()


def test_demo_command_is_registered_through_its_entry_point(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0 and "end-to-end demo" in result.output
