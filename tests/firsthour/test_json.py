"""``run --json`` has one shape: a list of run reports, for a dry run and a run, for one pipeline or several."""

from __future__ import annotations

import json

import pytest

from .helpers import API_KEY, invoke


@pytest.fixture
def setup(tmp_path, write_config, sandbox):
    from tradecredit.plugins.optima import make_demo_db

    url = f"sqlite:///{(tmp_path / 'optima.db').as_posix()}"
    make_demo_db(url, customers=30)
    sandbox.add_clients([{"login": f"l{i}", "code_external": f"K{i:06d}"} for i in range(1, 11)])
    config = write_config(url, sandbox.url)
    assert API_KEY
    return config


def test_one_pipeline_prints_a_list_of_one_report(setup):
    for args in (["--dry-run"], []):
        result = invoke("run", "-c", str(setup), *args, "--json")
        assert result.exit_code in (0, 4), result.output
        reports = json.loads(result.stdout)
        assert isinstance(reports, list) and len(reports) == 1
        assert reports[0]["pipeline"] == "erp-to-shop" and reports[0]["dry_run"] is bool(args)


def test_two_pipelines_print_a_list_of_two(setup):
    text = setup.read_text(encoding="utf-8")
    setup.write_text(text + '\n[[pipelines]]\nname = "again"\nsource = "erp"\ntarget = "shop"\n', encoding="utf-8")
    result = invoke("run", "-c", str(setup), "--dry-run", "--json")
    assert [r["pipeline"] for r in json.loads(result.stdout)] == ["erp-to-shop", "again"]
