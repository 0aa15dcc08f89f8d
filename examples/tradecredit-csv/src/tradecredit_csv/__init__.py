"""tradecredit-csv: trade credit read from a CSV or XLSX file, for ERPs tradecredit has no plugin for yet."""

from __future__ import annotations

from tradecredit.sdk import RegisterSource, hookimpl

from .source import Columns, CsvOptions, CsvSource

__all__ = ["Columns", "CsvOptions", "CsvSource"]


@hookimpl
def register_sources(register: RegisterSource) -> None:
    register("csv", CsvSource)
