"""The config examples of docs/operations.md and docs/configuration.md validate with the real plugins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from tradecredit.core.config import parse_config
from tradecredit.core.plugins import PluginHost

DOCS = Path(__file__).resolve().parents[2] / "docs"
BASE = {
    "sources": {"optima_main": {"plugin": "optima", "url": "sqlite:///optima.db", "control_mode": "block"}},
    "targets": {"shop": {"plugin": "idosell", "base_url": "https://shop.example", "api_key": "k" * 12},
                "eshop": {"plugin": "eshop", "base_url": "https://b2b.example", "api_key": "k" * 12}},
}


def blocks(name: str) -> list[dict]:
    text = (DOCS / name).read_text(encoding="utf-8")
    return [tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)```", text, re.S)]


@pytest.mark.parametrize("name", ["operations.md", "configuration.md"])
def test_every_toml_example_validates(name, monkeypatch):
    monkeypatch.setenv("TC_WEBHOOK_URL", "https://hooks.example/T1/secret")
    monkeypatch.setenv("TC_SMTP_PASSWORD", "pw-12345")
    monkeypatch.setenv("IDOSELL_API_KEY", "key-12345")
    monkeypatch.setenv("TC_CONSOLE_PASSWORD", "console-12345")
    host = PluginHost(strict=True).load_entrypoints(only=["optima", "idosell", "eshop", "notify"])
    found = blocks(name)
    assert found, f"{name} has no toml example"
    for data in found:
        merged = {**BASE, **data}
        merged["sources"] = {**BASE["sources"], **data.get("sources", {})}
        merged["targets"] = {**BASE["targets"], **data.get("targets", {})}
        if "pipelines" in merged:
            for p in merged["pipelines"]:
                p.setdefault("source", "optima_main")
                p.setdefault("target", "shop")
        parse_config(merged, host, secrets="lazy")
