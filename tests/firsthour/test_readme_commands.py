"""Every ``tradecredit …`` line in the README's shell blocks names a command that exists, with flags it takes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
from click.testing import CliRunner
from tradecredit.core.cli import cli
from tradecredit.core.plugins import set_host

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_command_lines() -> list[str]:
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip().rstrip("&").strip()
            if line.startswith("tradecredit"):
                lines.append(re.sub(r"\s*\|\s*", "|", line))
    return lines


def _resolve(words: list[str]) -> list[tuple[list[str], click.Command]]:
    """The command paths a README line names (``state leases|unlock`` names two)."""
    paths: list[tuple[list[str], click.Command]] = [([], cli)]
    for word in words:
        if word.startswith("-"):
            break
        grown = []
        for path, command in paths:
            if not isinstance(command, click.Group):
                grown.append((path, command))
                continue
            ctx = click.Context(command)
            for name in word.split("|"):
                sub = command.get_command(ctx, name)
                assert sub is not None, f"README: `tradecredit {' '.join([*path, name])}` is not a command"
                grown.append(([*path, name], sub))
        paths = grown
        if all(not isinstance(c, click.Group) for _, c in paths):
            break
    return paths


def test_readme_lists_commands():
    lines = readme_command_lines()
    assert any(line.startswith("tradecredit init") for line in lines)
    assert any(line.startswith("tradecredit doctor") for line in lines)


def test_every_readme_command_and_flag_exists():
    set_host(None)
    runner = CliRunner()
    checked = 0
    for line in readme_command_lines():
        words = shlex.split(line.replace("…", "x"))[1:]
        flags = {w.split("=", 1)[0] for w in words if w.startswith("--")}
        flags |= {w for w in words if re.fullmatch(r"-[a-zA-Z]", w)}
        for path, command in _resolve(words):
            if isinstance(command, click.Group) and not path:
                continue  # `tradecredit --version`
            result = runner.invoke(cli, [*path, "--help"])
            assert result.exit_code == 0, (line, result.output)
            for flag in flags:
                assert re.search(rf"(^|[\s,/]){re.escape(flag)}\b", result.output), \
                    f"README line {line!r}: `tradecredit {' '.join(path)}` has no option {flag}"
            checked += 1
    assert checked >= 20, checked
