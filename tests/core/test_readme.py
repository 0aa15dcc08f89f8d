"""The README's config example is the issue's contract: it must validate with the installed plugins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tradecredit.core.config import parse_config
from tradecredit.core.plugins import PluginHost

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_config_example_validates(monkeypatch):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Configuration"):]
    example = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    monkeypatch.setenv("IDOSELL_API_KEY", "readme-example-key")
    # the real plugins, found through their entry points as the runner finds them
    host = PluginHost(strict=True).load_entrypoints(only=["optima", "idosell"])
    config = parse_config(tomllib.loads(example), host)
    assert [p.name for p in config.pipelines] == ["optima-to-shop"]
    assert config.sources["optima_main"].plugin == "optima" and config.targets["shop"].plugin == "idosell"
    assert "readme-example-key" not in str(config.redacted())
