"""Shared test setup. The fixtures for plugin authors come from the opt-in kit, as in any plugin's project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tradecredit.testing"]

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SHARED = ROOT.parent / "shared"


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
