"""Fixtures for the IdoSell plugin tests: a running sandbox, fast retries, an in-test ERP source."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from tradecredit import AdapterContext, ControlMode, CreditRecord, LimitState, PluginOptions, Source, hookimpl
from tradecredit.core.config import parse_config
from tradecredit.core.plugins import PluginHost
from tradecredit.core.secrets import forget_secrets
from tradecredit.plugins import idosell
from tradecredit.plugins.idosell.sandbox import Sandbox, start_sandbox
from tradecredit.plugins.idosell.target import IdoSellOptions, IdoSellTarget

API_KEY = "test-key-5f0c9a2e71"
AS_OF = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FAST_RETRY = {"max_attempts": 4, "backoff_initial": 0.01, "backoff_max": 0.05, "total_timeout": 5.0, "jitter": 0.5}

RECORDS: dict[str, list[CreditRecord]] = {}


def record(code: str, limit: str | None = "1000.00", used: str = "0.00", **fields: Any) -> CreditRecord:
    values: dict[str, Any] = {
        "source": "erp", "erp_id": code, "code": code, "is_business": True, "as_of": AS_OF,
        "limit_state": LimitState.LIMITED if limit is not None else LimitState.NONE,
        "credit_limit": Decimal(limit) if limit is not None else None, "used": Decimal(used),
    }
    values.update(fields)
    return CreditRecord(**values)


class ListOptions(PluginOptions):
    dataset: str


class ListSource(Source):
    """An ERP stand-in that yields the records a test put into ``RECORDS[dataset]``."""

    Options: ClassVar[type[PluginOptions]] = ListOptions

    def read(self, as_of: datetime):  # type: ignore[no-untyped-def]
        yield from RECORDS[self.options.dataset]  # type: ignore[attr-defined]


class ListSourcePlugin:
    @hookimpl
    def register_sources(self, register: Any) -> None:
        register("listsource", ListSource)


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    forget_secrets()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    sb = start_sandbox(tmp_path / "shop.db", API_KEY)
    try:
        yield sb
    finally:
        sb.stop()


def seed(sb: Sandbox, n: int, prefix: str = "KH-", start: int = 1) -> list[str]:
    """Create ``n`` shop accounts ``firma_0001``… with clientCodeExternal ``KH-0001``…; return the codes."""
    codes = [f"{prefix}{i:04d}" for i in range(start, start + n)]
    sb.add_clients({"login": f"firma_{c.lower().replace('-', '_')}", "code_external": c, "firm": c} for c in codes)
    return codes


def login_of(code: str) -> str:
    return f"firma_{code.lower().replace('-', '_')}"


def make_target(sb: Sandbox, cache: Any = None, **options: Any) -> IdoSellTarget:
    opts = IdoSellOptions.model_validate(
        {"base_url": sb.url, "api_key": API_KEY, "retry": FAST_RETRY, "timeout": 2.0, **options}
    )
    return IdoSellTarget(opts, AdapterContext(instance_name="shop", cache=cache))


class Pipeline:
    """Runs the ``erp → shop`` pipeline through ``run_pipeline`` against a sandbox."""

    def __init__(self, sb: Sandbox, tmp_path: Path, name: str) -> None:
        self.sb, self.dataset = sb, name
        self.state_url = f"sqlite:///{tmp_path / f'state-{name}.db'}"
        self.host = PluginHost(strict=True)
        self.host.add_plugin(ListSourcePlugin(), name="listsource")
        self.host.add_plugin(idosell, name="idosell")
        self.target_options: dict[str, Any] = {}

    def config(self, **target: Any) -> Any:
        data = {
            "state": {"url": self.state_url},
            "sources": {"erp": {"plugin": "listsource", "dataset": self.dataset}},
            "targets": {"shop": {"plugin": "idosell", "base_url": self.sb.url, "api_key": API_KEY,
                                 "retry": FAST_RETRY, "timeout": 2.0, **self.target_options, **target}},
            "pipelines": [{"name": "sync", "source": "erp", "target": "shop"}],
        }
        return parse_config(data, self.host)

    def run(self, records: list[CreditRecord] | None = None, **kwargs: Any) -> Any:
        from tradecredit import run_pipeline

        if records is not None:
            RECORDS[self.dataset] = records
        target = kwargs.pop("target", {})
        return run_pipeline(self.config(**target), "sync", host=self.host, as_of=AS_OF, **kwargs)


@pytest.fixture
def pipeline(sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest) -> Pipeline:
    return Pipeline(sandbox, tmp_path, request.node.name)


@pytest.fixture
def h() -> Any:
    """The helpers of this module (record, seed, make_target, …): test modules cannot import conftest."""
    import sys

    return sys.modules[__name__]


__all__ = ["API_KEY", "AS_OF", "ControlMode", "Pipeline", "login_of", "make_target", "record", "seed"]
