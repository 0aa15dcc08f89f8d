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
from tradecredit.core.secrets import forget_secrets, register_secret

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


def test_lifecycle_hooks_follow_pluggys_calling_rules_and_isolate_failures(caplog):
    """Through pluggy: tryfirst first, trylast last, wrappers around the rest; a broken one stops nothing."""
    calls = []

    class Plain:
        @hookimpl
        def after_run(self, run, report):
            calls.append("plain")

    class First:
        @hookimpl(tryfirst=True)
        def after_run(self, run, report):
            calls.append("tryfirst")

    class Last:
        @hookimpl(trylast=True)
        def after_run(self, run, report):
            calls.append("trylast")

    class Noisy:
        @hookimpl
        def after_run(self, run, report):
            raise RuntimeError("notifier down, key=secret-value-1234")

    class Wrapper:
        @hookimpl(wrapper=True)
        def after_run(self, run, report):
            calls.append("wrapper before")
            result = yield
            calls.append(f"wrapper after {len(result)} result(s)")
            return result

    class BrokenWrapper:
        @hookimpl(wrapper=True)
        def after_run(self, run, report):
            raise RuntimeError("wrapper broke before yielding")
            yield  # pragma: no cover

    class OldStyle:
        @hookimpl(hookwrapper=True)
        def after_run(self, run, report):
            calls.append("hookwrapper before")
            yield
            calls.append("hookwrapper after")

    register_secret("secret-value-1234")
    host = PluginHost(strict=False)
    # registered first = called last by pluggy among plain implementations
    for plugin in (Last(), Plain(), Noisy(), First(), BrokenWrapper(), Wrapper(), OldStyle()):
        host.add_plugin(plugin, name=type(plugin).__name__.lower())
    host.hook.after_run(run=None, report="r")
    assert calls == [
        "hookwrapper before", "wrapper before", "tryfirst", "plain", "trylast",
        "wrapper after 0 result(s)", "hookwrapper after",
    ]
    failed = {(f.plugin, f.hook) for f in host.hook_failures}
    assert failed == {("noisy", "after_run"), ("brokenwrapper", "after_run")}
    assert "notifier down" in caplog.text and "secret-value-1234" not in caplog.text
    forget_secrets()


def test_a_broken_notifier_does_not_fail_the_run(tc_host_factory, tc_sqlite_url):
    from tradecredit.core.config import parse_config
    from tradecredit.core.sync import run_pipeline
    from tradecredit.testing import MEMORY_ROWS, FakeTarget, testing_plugin

    seen = []

    class Broken:
        @hookimpl
        def before_run(self, run):
            raise RuntimeError("metrics endpoint down")

        @hookimpl
        def after_batch(self, run, batch):
            raise RuntimeError("metrics endpoint down")

    class Listener:
        @hookimpl
        def after_run(self, run, report):
            seen.append((run.pipeline, report.status))

    host = tc_host_factory()
    host.add_plugin(testing_plugin, name="testing")
    host.add_plugin(Broken(), name="broken")
    host.add_plugin(Listener(), name="listener")
    MEMORY_ROWS["notifier"] = []
    FakeTarget.reset()
    cfg = parse_config({
        "state": {"url": tc_sqlite_url},
        "sources": {"erp": {"plugin": "memory", "dataset": "notifier"}},
        "targets": {"shop": {"plugin": "fake"}},
        "pipelines": [{"name": "p", "source": "erp", "target": "shop"}],
    }, host)
    assert run_pipeline(cfg, "p", host=host).status == "ok"
    assert seen == [("p", "ok")]
    assert [f.plugin for f in host.hook_failures] == ["broken"]


def test_every_hook_is_documented_with_its_signature():
    doc = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    specs = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "tradecredit_spec")]
    assert specs, "no hookspecs found"
    for name in specs:
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert re.search(rf"^##+ `{name}\({re.escape(params)}\)`", doc, re.M), f"hook {name}({params}) undocumented"
