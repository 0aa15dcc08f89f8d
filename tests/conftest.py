"""Shared test setup. The fixtures for plugin authors come from the opt-in kit, as in any plugin's project."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["tradecredit.testing"]

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture
def host() -> Iterator[Any]:
    """A strict host with the test kit's plugin (memory source, fake target); its fakes are reset around the test.

    A module that needs more plugins overrides it, asking for this one: ``def host(host): host.add_plugin(...)``.
    """
    # Imported here, not at the top: the kit must be imported by pytest_plugins first, so its asserts are rewritten.
    from tradecredit.core.plugins import PluginHost
    from tradecredit.testing import MEMORY_ROWS, FakeTarget, testing_plugin

    h = PluginHost(strict=True)
    h.add_plugin(testing_plugin, name="testing")
    FakeTarget.reset()
    yield h
    FakeTarget.reset()
    MEMORY_ROWS.clear()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared reference folder (beside the clone in CI); tests only, never the product."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: the tests need ../shared beside the repository")
    return SHARED


@pytest.fixture(scope="session")
def example_plugins_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Really install the example plugin distributions (good and broken) into a private site directory.

    They are installed with pip, like any third-party plugin, but outside the project venv so that the demo
    and other tests never see the broken one.
    """
    site = tmp_path_factory.mktemp("site")
    for name in ("tc_example_plugin", "tc_broken_plugin"):
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
             "--target", str(site), str(TESTS / "example_plugins" / name)],
            check=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
    return site
