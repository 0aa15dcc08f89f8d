"""tradecredit.sdk is the one public surface for plugins, and the built-in plugins keep to it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tradecredit
from tradecredit import sdk
from tradecredit.sdk import PluginOptions, Source

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
BANNED = PYPROJECT["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(relative level, module) of every import in a file; ``import x`` is level 0."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_every_public_name_is_importable_and_listed_once():
    assert len(set(sdk.__all__)) == len(sdk.__all__)
    missing = [name for name in sdk.__all__ if not hasattr(sdk, name)]
    assert missing == []
    documented = sdk.__doc__ or ""
    assert [name for name in sdk.__all__ if f"``{name}``" not in documented] == []


def test_built_in_plugins_import_only_the_sdk_and_plugin_packages():
    """What ruff's TID251/TID252 enforce, checked once more on the files themselves."""
    offenders = []
    for path in (ROOT / "plugins").rglob("*.py"):
        for level, module in _imports(path):
            if level > 1:
                offenders.append(f"{path.relative_to(ROOT)}: relative import from a parent package")
            elif level == 0 and module.split(".")[0] == "tradecredit" and not (
                module == "tradecredit.sdk" or module.startswith("tradecredit.plugins.")
            ):
                offenders.append(f"{path.relative_to(ROOT)}: imports {module}")
    assert offenders == []


def test_the_example_plugin_depends_on_the_sdk_alone():
    example = ROOT / "examples" / "tradecredit-csv"
    for path in example.rglob("*.py"):
        allowed = {"tradecredit.sdk", "tradecredit.testing"} if "tests" in path.parts else {"tradecredit.sdk"}
        used = {m for level, m in _imports(path) if level == 0 and m.split(".")[0] == "tradecredit"}
        assert used <= allowed, path
    project = tomllib.loads((example / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert [d for d in project["dependencies"] if d.startswith("tradecredit")] == ["tradecredit>=0.1"]


def test_ruff_bans_every_name_of_the_package_root_in_plugins():
    assert "tradecredit.core" in BANNED
    assert [name for name in tradecredit.__all__ if f"tradecredit.{name}" not in BANNED] == []


def test_core_knows_no_plugin_and_no_comarch_schema():
    for path in (ROOT / "core").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for level, module in _imports(path):  # core.plugins is the host; tradecredit.plugins the plugins
            assert not (level > 1 or module.startswith("tradecredit.plugins")), f"{path.name} imports {module}"
        constants = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert "CDN" not in constants, path.name
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        assert not names & {"mode_from_label", "schema_map", "create_erp_tables"}, path.name


def test_a_source_declares_its_options_once_through_the_generic_parameter():
    class Opts(PluginOptions):
        path: str

    class Other(PluginOptions):
        pass

    class Src(Source[Opts]):
        def read(self, as_of):  # pragma: no cover - never read
            return iter(())

    assert Src.Options is Opts
    with pytest.raises(TypeError, match="Options must be Opts"):
        class Wrong(Source[Opts]):
            Options = Other

            def read(self, as_of):  # pragma: no cover
                return iter(())


def test_the_example_plugin_is_installed_and_listed_by_tradecredit_plugins():
    """make venv pip-installs examples/tradecredit-csv into the venv like any third-party plugin."""
    out = subprocess.run([sys.executable, "-m", "tradecredit.core.cli", "plugins", "--json"], capture_output=True,
                         text=True, check=True, env={**os.environ, "TRADECREDIT_STRICT_PLUGINS": "1"})
    data = json.loads(out.stdout)
    plugins = {p["name"]: p for p in data["plugins"]}
    assert "csv" in plugins, "run `make venv`: it installs the example plugin"
    assert plugins["csv"]["distribution"] == "tradecredit-csv" and data["sources"]["csv"] == "csv"
    assert data["failures"] == []
