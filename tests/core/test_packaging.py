"""The wheel: the repository root maps to ``tradecredit``; every package is shipped; tests are not."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP = {"tests", "docs", "bench", "examples", ".venv", "build", ".git", ".ci"}
WEB_STACK = {"starlette", "uvicorn", "jinja2", "python-multipart"}


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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a clean copy of the working tree: an in-place build reuses build/lib, where files
    deleted from the tree live on and end up in the wheel."""
    tree = tmp_path_factory.mktemp("tree")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / rel)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(tree)], check=True)
    return next(out.glob("tradecredit-*.whl"))


def test_wheel_contains_the_package_and_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "tradecredit/__init__.py" in names and "tradecredit/core/engine.py" in names
    assert not [n for n in names if n.startswith(("tests/", "tradecredit/tests/", "tradecredit/bench/",
                                                  "tradecredit/examples/"))]
    assert "tradecredit/core/testing.py" not in names  # moved to tradecredit/testing/
    assert not [n for n in names if "shared/reference" in n]
    # the storefront's pages are package data in subfolders, which a plain "*" pattern does not reach
    assert [n for n in names if n.startswith("tradecredit/plugins/eshop/templates/") and n.endswith(".html")]
    assert [n for n in names if n.startswith("tradecredit/plugins/eshop/static/") and n.endswith(".css")]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for plugin in ("optima", "xl", "idosell", "eshop"):
        assert f"{plugin} = tradecredit.plugins.{plugin}" in text
    # the test kit ships, opt-in: no pytest11 entry point injects fixtures into other projects
    assert "tradecredit/testing/__init__.py" in names and "pytest11" not in text
    assert "tradecredit/sdk.py" in names and "tradecredit/py.typed" in names
    assert "tradecredit/plugins/comarch/cdn.py" in names
    assert "tradecredit/pyproject.toml" not in names  # once shipped as stray package data


def test_a_production_install_pulls_no_web_stack(wheel):
    metadata = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    requires = [line.removeprefix("Requires-Dist: ") for line in zipfile.ZipFile(wheel).read(metadata).decode()
                .splitlines() if line.startswith("Requires-Dist: ")]
    def name(requirement: str) -> str:
        return requirement.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip().lower()
    unconditional = {name(r) for r in requires if "extra ==" not in r}
    assert unconditional & WEB_STACK == set(), unconditional
    in_sandbox = {name(r) for r in requires if 'extra == "sandbox"' in r}
    assert in_sandbox == WEB_STACK
    assert 'tradecredit[sandbox]; extra == "test"' in requires
