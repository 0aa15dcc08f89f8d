"""Config validation: every problem with its dotted path at once; secrets resolved and masked everywhere."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tradecredit.core.config import load_config, parse_config
from tradecredit.core.errors import ConfigError
from tradecredit.core.plugins import PluginHost
from tradecredit.core.secrets import MaskingFilter, forget_secrets, mask, register_secret
from tradecredit.testing import testing_plugin


@pytest.fixture
def host():
    h = PluginHost(strict=True)
    h.add_plugin(testing_plugin, name="testing")
    return h


def test_every_problem_is_reported_with_its_path(host):
    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                "state": {"url": "sqlite:///x.db", "lock_timout": "1h"},
                "sources": {"erp": {"plugin": "memory", "datasett": "x"}, "xl": {"plugin": "nope"}},
                "targets": {"shop": {"plugin": "fake", "batch_size": "many"}, "bare": {}},
                "pipelines": [{"name": "a b", "source": "missing", "target": "shop"},
                              {"name": "b", "source": "nope", "target": "shop"}],
            },
            host,
        )
    problems = info.value.problems
    text = "\n".join(problems)
    for expected in (
        "state.lock_timout: unknown option",
        "sources.erp.datasett: unknown option",
        "sources.xl.plugin: unknown plugin 'nope' (available: memory)",
        "targets.shop.batch_size: Input should be a valid integer",
        "targets.bare.plugin: missing",
        "pipelines[0].name: pipeline name must be non-empty and contain no spaces",
        # an invalid pipeline's references are still checked (issue 12: every problem at once)
        "pipelines[0].source: no source named 'missing'",
        # still checked although other sections are wrong, under its own index
        "pipelines[1].source: no source named 'nope'",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert len(problems) == 8
    assert str(len(problems)) + " problem(s)" in str(info.value)


def test_pipeline_references_are_checked(host):
    with pytest.raises(ConfigError) as info:
        parse_config({"sources": {"erp": {"plugin": "memory"}}, "targets": {},
                      "pipelines": [{"name": "p", "source": "erp", "target": "shop"}]}, host)
    assert info.value.problems == ["pipelines[0].target: no target named 'shop'"]


def test_secret_references_env_and_file(host, tmp_path, monkeypatch):
    from tradecredit import PluginOptions, Secret, Target, hookimpl

    class Opts(PluginOptions):
        api_key: Secret

    class T(Target):
        Options = Opts

        def payload(self, record, match, mode):
            return {}

        def write(self, items):
            return []

    class P:
        @hookimpl
        def register_targets(self, register):
            register("keyed", T)

    host.add_plugin(P(), name="keyed")
    monkeypatch.setenv("TC_TEST_KEY", "env-secret-value-123")
    (tmp_path / "key.txt").write_text("file-secret-value-456\n", encoding="utf-8")
    cfg = parse_config({"targets": {"a": {"plugin": "keyed", "api_key": {"env": "TC_TEST_KEY"}},
                                    "b": {"plugin": "keyed", "api_key": {"file": str(tmp_path / "key.txt")}}}}, host)
    assert cfg.targets["a"].options.api_key.get_secret_value() == "env-secret-value-123"
    assert cfg.targets["b"].options.api_key.get_secret_value() == "file-secret-value-456"
    shown = str(cfg.redacted())
    assert "env-secret-value-123" not in shown and "file-secret-value-456" not in shown and "***" in shown
    assert mask("key is env-secret-value-123!") == "key is ***!"
    with pytest.raises(ConfigError) as info:
        parse_config({"targets": {"a": {"plugin": "keyed", "api_key": {"env": "TC_TEST_MISSING"}},
                                  "b": {"plugin": "keyed", "api_key": {"file": str(tmp_path / "nope")}}}}, host)
    text = "\n".join(info.value.problems)
    assert "targets.a.api_key: environment variable TC_TEST_MISSING is not set" in text
    assert "targets.b.api_key: cannot read secret file" in text


def test_database_url_passwords_are_masked_everywhere(host):
    forget_secrets()
    cfg = parse_config({"state": {"url": "postgresql+psycopg://tc:S3cr3t-Pass@db.local:5432/state"}}, host)
    assert "S3cr3t-Pass" not in str(cfg.redacted())
    assert "S3cr3t-Pass" not in mask(f"connection to {cfg.state.url} failed")
    assert mask("mssql+pyodbc://?odbc_connect=DRIVER={ODBC Driver 18};SERVER=x;UID=sa;PWD=Tajne!Haslo;") \
        .count("Tajne!Haslo") == 0
    assert mask("Server=x;Password={a;b};") == "Server=x;Password=***;"
    assert mask("headers={'X-API-KEY': 'abcdef123'}") == "headers={'X-API-KEY': '***'}"


def test_masking_filter_cleans_log_lines_and_exceptions(caplog):
    register_secret("very-secret-token")
    logger = logging.getLogger("tc.test")
    handler_filter = MaskingFilter()
    caplog.handler.addFilter(handler_filter)
    try:
        logger.warning("calling with %s", "very-secret-token")
        try:
            raise RuntimeError("failed for very-secret-token")
        except RuntimeError:
            logger.exception("boom")
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert "very-secret-token" not in caplog.text
    assert "calling with ***" in caplog.text


def test_relative_sqlite_paths_are_relative_to_the_config_file(host, tmp_path: Path):
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "tc.toml"
    path.write_text('[state]\nurl = "sqlite:///data/state.db"\n', encoding="utf-8")
    cfg = load_config(path, host)
    assert cfg.state.url == f"sqlite:///{tmp_path / 'conf' / 'data' / 'state.db'}"


def test_unreadable_and_invalid_files(host, tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml", host)
    bad = tmp_path / "bad.toml"
    bad.write_text("[state\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, host)
