"""The dev kit stays beside the product: an opt-in test kit, and a web stack only with the sandbox extra."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from tradecredit.core.cli import cli
from tradecredit.core.plugins import set_host

WEB_STACK = ("starlette", "uvicorn", "jinja2", "multipart", "python_multipart")


def _pytest(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=project, capture_output=True,
        text=True, env={**os.environ, "PYTEST_ADDOPTS": "", **env},
    )


def test_an_unrelated_project_gets_no_fixtures_and_no_postgres_database(tmp_path: Path) -> None:
    project = tmp_path / "unrelated"
    project.mkdir()
    (project / "test_x.py").write_text("def test_x(database_url):\n    pass\n\n"
                                       "def test_y(tc_postgres_url):\n    pass\n", encoding="utf-8")
    # Were any fixture to reach for PostgreSQL, this unreachable server under CI=true would fail loudly.
    result = _pytest(project, CI="true", TRADECREDIT_TEST_POSTGRES="postgresql+psycopg://nobody@127.0.0.1:9/none")
    assert result.returncode == 1, result.stdout
    assert "fixture 'database_url' not found" in result.stdout
    assert "fixture 'tc_postgres_url' not found" in result.stdout
    assert "unreachable" not in result.stdout
    listed = _pytest(project, "--fixtures").stdout
    assert "tc_" not in listed and "sqlite_url" not in listed


def test_a_project_that_opts_in_gets_the_tc_fixtures(tmp_path: Path) -> None:
    project = tmp_path / "plugin_project"
    project.mkdir()
    (project / "conftest.py").write_text('pytest_plugins = ["tradecredit.testing"]\n', encoding="utf-8")
    (project / "test_kit.py").write_text(textwrap.dedent("""
        def test_sqlite(tc_sqlite_url, tc_host_factory):
            assert tc_sqlite_url.startswith("sqlite:///")
            assert tc_host_factory().sources == {}
    """), encoding="utf-8")
    result = _pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.fixture
def without_web_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """As after ``pip install tradecredit``: importing the web stack fails (None in sys.modules)."""
    for name in WEB_STACK:
        monkeypatch.setitem(sys.modules, name, None)
    set_host(None)
    yield
    set_host(None)


@pytest.mark.parametrize("command", [["sandbox", "idosell"], ["sandbox", "eshop"], ["demo"]])
def test_dev_kit_commands_say_how_to_install_the_extra(without_web_stack: None, command: list[str]) -> None:
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 3, result.output
    assert "pip install 'tradecredit[sandbox]'" in result.output
    assert "Traceback" not in result.output
    assert "missing: uvicorn, starlette, jinja2, python_multipart" in result.output


def test_the_product_runs_without_the_web_stack(tmp_path: Path) -> None:
    """Every plugin loads, the CLI answers, and a run to the eshop target works: only the sandboxes need it."""
    script = textwrap.dedent(f"""
        import json, sys
        for name in {WEB_STACK!r}:
            sys.modules[name] = None
        from tradecredit.core.plugins import PluginHost
        host = PluginHost(strict=True).load_entrypoints()
        assert {{"optima", "xl", "idosell", "eshop", "demo"}} <= {{i.plugin for i in host.plugins()}}
        from tradecredit.plugins.eshop import EshopOptions, EshopTarget
        from tradecredit.sdk import AdapterContext
        EshopTarget(EshopOptions(base_url="http://127.0.0.1:9", api_key="k-1234"), AdapterContext("store"))
        try:
            from tradecredit.plugins.eshop import start_storefront
        except Exception as exc:
            print(type(exc).__name__, exc)
        from tradecredit.core.cli import main
        sys.argv = ["tradecredit", "--help"]
        main()
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ConfigError the e-Sklep demo storefront: needs tradecredit's dev kit" in result.stdout
    assert "pip install 'tradecredit[sandbox]'" in result.stdout
    assert "sandbox" in result.stdout and "run" in result.stdout  # the --help text
    assert not [m for m in WEB_STACK if f"import {m}" in result.stderr]
