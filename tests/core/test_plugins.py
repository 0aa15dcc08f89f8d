"""The plugin host: real entry-point discovery, isolation of broken plugins, strict mode, validation."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tradecredit import PluginOptions, Source, Target, hookimpl
from tradecredit.core import hookspecs
from tradecredit.core.errors import PluginError
from tradecredit.core.plugins import PluginHost

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = {"optima", "xl", "idosell", "eshop"}


def _with_site(site: Path):
    """Make the privately installed example distributions visible to importlib.metadata."""
    sys.path.insert(0, str(site))
    import importlib

    importlib.invalidate_caches()


@pytest.fixture
def site(example_plugins_site: Path):
    _with_site(example_plugins_site)
    yield example_plugins_site
    sys.path.remove(str(example_plugins_site))
    for mod in ("tc_example_plugin", "tc_broken_registration", "tc_broken_plugin"):
        sys.modules.pop(mod, None)


def test_builtins_are_entry_points_of_this_distribution():
    host = PluginHost(strict=False).load_entrypoints(only=BUILTINS)
    infos = {i.plugin: i for i in host.plugins()}
    assert set(infos) >= BUILTINS
    for name in BUILTINS:
        assert infos[name].distribution == "tradecredit"
        assert infos[name].version


def test_third_party_plugin_is_discovered_and_broken_ones_are_recorded(site):
    host = PluginHost(strict=False).load_entrypoints()
    assert host.source("example_fixed").distribution == "tc-example-plugin"
    assert host.source("example_fixed").version == "1.2.3"
    assert host.target("example_list").plugin == "example"
    failures = {f.plugin: f for f in host.failures}
    assert "import failed" in failures["broken"].error
    assert "tc_this_module_does_not_exist" in failures["broken"].error
    assert failures["broken"].distribution == "tc-broken-plugin"
    assert "must be a subclass of Source" in failures["broken_registration"].error
    # a plugin rejected at registration contributes nothing and is unregistered
    assert "not_a_source" not in host.sources
    assert "broken_registration" not in {i.plugin for i in host.plugins()}


def test_strict_mode_makes_a_broken_plugin_fatal(site, monkeypatch):
    monkeypatch.setenv("TRADECREDIT_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="tc-broken-plugin"):
        PluginHost().load_entrypoints()


def test_cli_plugins_lists_versions_and_failures(example_plugins_site):
    env = {**os.environ, "PYTHONPATH": str(example_plugins_site)}
    out = subprocess.run(
        [sys.executable, "-m", "tradecredit.core.cli", "plugins", "--json"], capture_output=True, text=True,
        env=env, check=True,
    )
    data = json.loads(out.stdout)
    names = {p["name"]: p for p in data["plugins"]}
    assert names["example"]["version"] == "1.2.3"
    assert set(names) >= BUILTINS
    assert {f["plugin"] for f in data["failures"]} == {"broken", "broken_registration"}
    text = subprocess.run(
        [sys.executable, "-m", "tradecredit.core.cli", "plugins"], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert "FAILED broken (tc-broken-plugin 0.0.1)" in text


class _Opts(PluginOptions):
    pass


class _Src(Source):
    Options = _Opts

    def read(self, as_of):
        return iter(())


def test_duplicate_names_are_rejected_with_the_first_owner_named():
    class First:
        @hookimpl
        def register_sources(self, register):
            register("dup", _Src)

    class Second:
        @hookimpl
        def register_sources(self, register):
            register("dup", _Src)

    host = PluginHost(strict=False)
    assert host.add_plugin(First(), name="first", distribution="dist-a")
    assert not host.add_plugin(Second(), name="second", distribution="dist-b")
    assert host.source("dup").plugin == "first"
    assert "already registered by plugin 'first' (dist-a)" in host.failures[0].error


def test_invalid_registrations_are_rejected():
    class BadName:
        @hookimpl
        def register_targets(self, register):
            register("not an identifier", Target)

    class NoOptions:
        @hookimpl
        def register_sources(self, register):
            class S(_Src):
                Options = dict  # not a PluginOptions

            register("s", S)

    host = PluginHost(strict=False)
    assert not host.add_plugin(BadName(), name="badname")
    assert not host.add_plugin(NoOptions(), name="nooptions")
    assert "identifier" in host.failures[0].error
    assert "Options must subclass PluginOptions" in host.failures[1].error
    with pytest.raises(PluginError, match="no source plugin named 's'"):
        host.source("s")


def test_lifecycle_hook_failures_do_not_propagate(caplog):
    calls = []

    class Noisy:
        @hookimpl
        def after_run(self, run, report):
            raise RuntimeError("notifier down")

    class Quiet:
        @hookimpl
        def after_run(self, run, report):
            calls.append(report)

    host = PluginHost(strict=False)
    host.add_plugin(Noisy(), name="noisy")
    host.add_plugin(Quiet(), name="quiet")
    host.call_lifecycle("after_run", run=None, report="r")
    assert calls == ["r"]
    assert "notifier down" in caplog.text


def test_every_hook_is_documented_with_its_signature():
    doc = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    specs = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "tradecredit_spec")]
    assert specs, "no hookspecs found"
    for name in specs:
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert re.search(rf"^##+ `{name}\({re.escape(params)}\)`", doc, re.M), f"hook {name}({params}) undocumented"
