"""``tradecredit config validate`` beyond the file itself: are the database drivers installed, and do the
names the sources refer to in the ERP (an e-Sklep workstation, a branch) exist there.

The file's own problems (syntax, unknown options, unknown dialects, plugins that failed to load) are found
by ``load_config``; this runs on a config that loaded. Each source contributes its reference check
(``Source.check_references``): core knows no ERP.
"""

from __future__ import annotations

from typing import Any

from .adapters import CheckResult, CheckStatus, Source
from .check import CheckLine, _guarded
from .config import Config, ConfiguredAdapter
from .dialects import Problem, driver_problem, parse
from .sync import instantiate


def database_urls(config: Config) -> list[tuple[str, str]]:
    """(where, url) of every database the config names: ``[state]`` and each source that reads one."""
    urls = [("state.url", config.state.url)]
    for name, adapter in config.sources.items():
        source = instantiate(adapter)
        try:
            url = source.database_url()
        finally:
            source.close()
        if url:
            urls.append((f"sources.{name}", url))
    return urls


def driver_line(where: str, url: str) -> CheckLine:
    parsed = parse(url)
    problem = parsed if isinstance(parsed, Problem) else driver_problem(parsed)
    if problem is None and not isinstance(parsed, Problem):
        return CheckLine(subject=where, result=CheckResult(name="db.driver", status=CheckStatus.OK,
                                                           detail=f"{parsed.drivername} driver installed"))
    assert problem is not None
    return CheckLine(subject=where, result=CheckResult(name="db.driver", status=CheckStatus.FAIL,
                                                       detail=problem.message, fix=problem.fix))


def validate_config(config: Config) -> list[CheckLine]:
    """Driver lines for every database URL, then each source's reference checks."""
    lines = [driver_line(where, url) for where, url in database_urls(config)]
    missing_driver = {line.subject for line in lines if line.result.status is CheckStatus.FAIL}
    for name, adapter in config.sources.items():
        if f"sources.{name}" in missing_driver:
            lines.append(CheckLine(subject=f"sources.{name}", result=CheckResult(
                name="references", status=CheckStatus.WARN,
                detail="not checked against the database: its driver is not installed")))
            continue

        def references(adapter: ConfiguredAdapter[Source[Any]] = adapter) -> list[CheckResult]:
            source = instantiate(adapter)
            try:
                return source.check_references()
            finally:
                source.close()

        lines += _guarded(f"sources.{name}", references)
    return lines
