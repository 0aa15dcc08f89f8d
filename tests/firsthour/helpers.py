"""Helpers of the first-hour tests (issue 17): configs, and the CLI run as a merchant runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result
from tradecredit.core.cli import cli
from tradecredit.core.plugins import set_host

API_KEY = "firsthour-key-93b1"
KEY_ENV = "TC_FIRSTHOUR_IDOSELL_KEY"


def config_text(erp_url: str, shop_url: str, *, state: str = "sqlite:///state.db", workstation: str = "e-Sklep",
                key_env: str = KEY_ENV) -> str:
    return f"""[state]
url = "{state}"

[sources.erp]
plugin = "optima"
url = "{erp_url}"
workstation = "{workstation}"

[targets.shop]
plugin = "idosell"
base_url = "{shop_url}"
api_key = {{ env = "{key_env}" }}

[[pipelines]]
name = "erp-to-shop"
source = "erp"
target = "shop"
"""


def invoke(*args: str) -> Result:
    set_host(None)
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@dataclass
class Doctor:
    exit_code: int
    lines: list[dict[str, str]]
    output: str

    def by_id(self, check_id: str) -> list[dict[str, str]]:
        return [line for line in self.lines if line["id"] == check_id]

    def one(self, check_id: str, subject: str | None = None) -> dict[str, str]:
        found = [line for line in self.by_id(check_id) if subject is None or line["subject"] == subject]
        assert len(found) == 1, (check_id, self.lines)
        return found[0]

    def status(self, check_id: str, subject: str | None = None) -> str:
        return self.one(check_id, subject)["status"]


def doctor(config: Path) -> Doctor:
    result = invoke("doctor", "-c", str(config), "--json")
    return Doctor(result.exit_code, json.loads(result.output), result.output)


def run_cli_subprocess(args: list[str], *, pythonpath: Path | None = None, cwd: Path | None = None,
                       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m tradecredit.core.cli …`` in a fresh interpreter (import failures must be real ones)."""
    full = {**os.environ, **(env or {}), "PYTHONIOENCODING": "utf-8"}
    if pythonpath is not None:
        full["PYTHONPATH"] = os.pathsep.join(p for p in (str(pythonpath), full.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "tradecredit.core.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=full, timeout=120)
