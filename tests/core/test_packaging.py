"""The wheel: the repository root maps to ``tradecredit``; every package is shipped; tests are not."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {"tests", "docs", "bench", ".venv", "build", ".git", ".ci"}


def _package_dirs() -> set[str]:
    found = {"tradecredit"}
    for init in ROOT.rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        if rel.parts and (rel.parts[0] in SKIP or any(p.startswith(".") or p.endswith(".egg-info") for p in rel.parts)):
            continue
        if rel.parts:
            found.add("tradecredit." + ".".join(rel.parts))
    return found


def test_every_package_directory_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    assert _package_dirs() <= listed, f"add to [tool.setuptools].packages: {sorted(_package_dirs() - listed)}"


def test_wheel_contains_the_package_and_no_tests(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(ROOT)],
        check=True,
    )
    wheel = next(tmp_path.glob("tradecredit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "tradecredit/__init__.py" in names and "tradecredit/core/engine.py" in names
    assert not [n for n in names if n.startswith(("tests/", "tradecredit/tests/", "tradecredit/bench/"))]
    assert not [n for n in names if "shared/reference" in n]
    # the storefront's pages are package data in subfolders, which a plain "*" pattern does not reach
    assert [n for n in names if n.startswith("tradecredit/plugins/eshop/templates/") and n.endswith(".html")]
    assert [n for n in names if n.startswith("tradecredit/plugins/eshop/static/") and n.endswith(".css")]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for plugin in ("optima", "xl", "idosell", "eshop"):
        assert f"{plugin} = tradecredit.plugins.{plugin}" in text
