"""Fixtures for the XL plugin tests: hand-made XL databases and ready sources. Helpers are in helpers.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine
from tradecredit import AdapterContext
from tradecredit.plugins.comarch import create_erp_tables, schema_map
from tradecredit.plugins.xl import XlOptions, XlSource
from tradecredit.plugins.xl import schema as xl_schema


@pytest.fixture
def make_xl_db() -> Callable[..., str]:
    """``make(url, KntKarty=[{...}], KntLimityK=[...], ...)``: create the XL tables and insert the rows."""

    def make(url: str, **tables: list[dict[str, Any]]) -> str:
        engine = create_engine(url)
        create_erp_tables(engine, xl_schema.metadata)
        with engine.begin() as conn:
            conn = conn.execution_options(schema_translate_map=schema_map(engine))
            for name, rows in tables.items():
                table = xl_schema.metadata.tables[f"CDN.{name}"]
                for row in rows:
                    conn.execute(table.insert().values(**row))
        engine.dispose()
        return url

    return make


@pytest.fixture
def xl_source() -> Iterator[Callable[..., XlSource]]:
    sources: list[XlSource] = []

    def make(url: str, **options: Any) -> XlSource:
        options.setdefault("control_mode", "block")
        src = XlSource(XlOptions(url=url, **options), AdapterContext(instance_name="erp"))
        sources.append(src)
        return src

    yield make
    for src in sources:
        src.close()
