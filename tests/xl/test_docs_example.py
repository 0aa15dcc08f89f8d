"""The "Try it: XL → IdoSell sandbox" walk-through in docs/plugins/xl.md, run as written (only the sandbox's
port differs: the test takes a free one)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from click.testing import CliRunner
from tradecredit.core.cli import cli
from tradecredit.core.plugins import set_host
from tradecredit.core.report import REPORT_LIST_LIMIT
from tradecredit.core.secrets import forget_secrets
from tradecredit.plugins.idosell.sandbox import start_sandbox

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins" / "xl.md"


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index("## Try it: XL → IdoSell sandbox"):].split("\n## ", 1)[0]


def test_every_option_is_documented():
    from tradecredit.plugins.xl import XlOptions

    doc = DOC.read_text(encoding="utf-8")
    missing = [name for name in XlOptions.model_fields if f"`{name}`" not in doc]
    assert missing == [], f"docs/plugins/xl.md does not document {missing}"


def test_the_walk_through_runs(tmp_path, monkeypatch):
    section = _section()
    commands = re.search(r"```\n(.*?)```", section, re.S).group(1).splitlines()
    config = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    make_db, start, dry_run, run = (shlex.split(c.split("#")[0].rstrip(" &")) for c in commands)
    clients = [arg.split("=") for arg in start[start.index("--client"):] if arg != "--client"]

    monkeypatch.chdir(tmp_path)
    set_host(None)  # the real host: plugins found through their entry points
    runner = CliRunner()
    made = runner.invoke(cli, make_db[1:], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    sandbox = start_sandbox(tmp_path / "shop.db", "sandbox-key")
    try:
        for login, code in clients:
            sandbox.add_client(login, code)
        config = config.replace("http://127.0.0.1:8765", sandbox.url)
        (tmp_path / "xl-idosell.toml").write_text(config, encoding="utf-8")
        preview = runner.invoke(cli, [*dry_run[1:], "--json"], catch_exceptions=False)
        assert preview.exit_code in (0, 4), preview.output
        assert sandbox.count("PUT clients/clients") == 0
        result = runner.invoke(cli, [*run[1:], "--json"], catch_exceptions=False)
        [report] = json.loads(result.output)
        assert report["counts"]["written"] == len(clients), result.output
        counts = report["counts"]
        assert counts["unmatched"] == counts["read"] - counts["rejected"] - len(clients) > 1900
        # The report lists the first REPORT_LIST_LIMIT codes and counts the rest.
        assert len(report["unmatched"]) + report["unmatched_truncated"] == counts["unmatched"]
        assert len(report["unmatched"]) == min(counts["unmatched"], REPORT_LIST_LIMIT)
        assert all(sandbox.client(login).limit is not None for login, _ in clients)
        [again] = json.loads(runner.invoke(cli, [*run[1:], "--json"], catch_exceptions=False).output)
        assert again["counts"]["written"] == 0
    finally:
        sandbox.stop()
        set_host(None)
        forget_secrets()
