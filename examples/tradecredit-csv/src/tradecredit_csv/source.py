"""``CsvSource``: customers' trade credit from a CSV or XLSX file that an ERP exports, one row per customer.

For ERPs tradecredit has no plugin for yet: let the ERP (or a scheduled report) export the file, point a
source at it. A bad row becomes a ``RejectedRow`` naming its line and every reason; the rest of the file goes
on. A file older than ``max_file_age`` is refused as a whole: a stopped export must not look like fresh data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from tradecredit.sdk import (
    CheckResult,
    CheckStatus,
    ConfigError,
    ControlMode,
    CreditRecord,
    Currency,
    LimitState,
    PluginOptions,
    RejectedRow,
    Source,
    TransientError,
    record_or_rejection,
)

UNLIMITED_WORDS = ["unlimited", "bez limitu", "nieograniczony"]
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "tak", "t"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "nie"})
# Thousands separators that exports put into amounts: space, no-break space, narrow no-break space.
SEPARATORS = str.maketrans("", "", " \u00a0\u202f")
REQUIRED = ("code", "credit_limit", "used")


class Columns(PluginOptions):
    """The header of each column (matched ignoring case and surrounding spaces); None: not in the file."""

    code: str = "code"
    erp_id: str | None = Field(None, description="the ERP's own id of the customer; None: the code")
    name: str | None = "name"
    tax_id: str | None = "tax_id"
    is_business: str | None = "is_business"
    credit_limit: str = Field("credit_limit", description="empty: no limit granted; an 'unlimited' word: unlimited")
    used: str = "used"
    overdue: str | None = "overdue"
    overdue_limit: str | None = Field("overdue_limit", description="empty: no overdue rule")
    currency: str | None = "currency"
    control_mode: str | None = "control_mode"


class CsvOptions(PluginOptions):
    path: Path = Field(description="the exported file (.csv or .xlsx); relative paths start at the config file")
    format: Literal["auto", "csv", "xlsx"] = Field("auto", description="auto: by the file's suffix")
    encoding: str = Field("utf-8-sig", description="CSV text encoding (Polish Windows exports: cp1250)")
    delimiter: str = Field(";", min_length=1, max_length=1, description="CSV field separator")
    sheet: str | None = Field(None, description="XLSX worksheet; None: the first one")
    columns: Columns = Field(default_factory=Columns)
    unlimited: list[str] = Field(default_factory=lambda: list(UNLIMITED_WORDS),
                                 description="credit_limit cells that mean 'no limit at all'")
    control_mode: ControlMode = Field(ControlMode.BLOCK, description="the mode of rows without one")
    mode_labels: dict[str, ControlMode] = Field(default_factory=dict,
                                                description="the ERP's own words for the modes, e.g. blokada = block")
    currency: Currency = Field("PLN", description="the currency of rows without one")
    is_business: bool = Field(True, description="what a row without the is_business column (or cell) is")
    max_file_age: timedelta | None = Field(timedelta(hours=24), description="refuse an older export; None: never")

    @field_validator("path")
    @classmethod
    def _relative_to_the_config(cls, value: Path, info: ValidationInfo) -> Path:
        base = (info.context or {}).get("base_dir")  # tradecredit passes the config file's folder
        return value if value.is_absolute() or base is None else Path(base) / value


class CsvSource(Source[CsvOptions]):
    """One row per customer from a CSV or XLSX export."""

    description = "a CSV or XLSX export with one row per customer (any ERP that can write one)"

    def read(self, as_of: datetime) -> Iterator[CreditRecord | RejectedRow]:
        self._refuse_stale(as_of)
        for line, row in self._rows():
            yield self.record(line, row, as_of)

    def check(self, as_of: datetime) -> list[CheckResult]:
        try:
            rows = list(self.read(as_of))
        except (ConfigError, TransientError) as exc:
            return [CheckResult(name="csv.read", status=CheckStatus.FAIL, detail=str(exc))]
        rejected = sum(isinstance(r, RejectedRow) for r in rows)
        return [
            CheckResult(name="csv.read", status=CheckStatus.OK,
                        detail=f"{self.options.path}: {len(rows)} customer row(s), {self._age(as_of)} old"),
            CheckResult(name="csv.rejected", status=CheckStatus.WARN if rejected else CheckStatus.OK,
                        detail=f"{rejected} row(s) would be rejected as bad data"),
        ]

    # --- one row -------------------------------------------------------------------------------------------
    def record(self, line: int, row: dict[str, str], as_of: datetime) -> CreditRecord | RejectedRow:
        """One row → a record, or a rejection naming its line and every problem found."""
        o = self.options
        problems: list[str] = []
        code = row["code"].strip()
        if not code:
            problems.append("no customer code")
        limit = row["credit_limit"].strip()
        if not limit:
            state, credit_limit = LimitState.NONE, None
        elif limit.casefold() in {w.strip().casefold() for w in o.unlimited}:
            state, credit_limit = LimitState.UNLIMITED, None
        else:
            state, credit_limit = LimitState.LIMITED, _amount(limit)
        mode = self._mode(row.get("control_mode", ""), problems)
        business = self._flag(row.get("is_business", ""), problems)
        erp_id = row.get("erp_id", "").strip() or code
        if problems:
            return RejectedRow(source=self.name, erp_id=erp_id or None, code=code or None,
                               reason=f"line {line}: " + "; ".join(problems))
        result = record_or_rejection(
            self.name, erp_id, code,
            name=row.get("name", "").strip(),
            tax_id=row.get("tax_id", "").strip() or None,
            is_business=business,
            limit_state=state,
            credit_limit=credit_limit,
            used=_amount(row["used"]) or "0",
            overdue=_amount(row.get("overdue", "")) or "0",
            overdue_limit=_amount(row.get("overdue_limit", "")) or None,
            currency=row.get("currency", "").strip() or o.currency,
            control_mode=mode,
            as_of=as_of,
            extra={"line": line},
        )
        if isinstance(result, RejectedRow):
            return result.model_copy(update={"reason": f"line {line}: {result.reason}"})
        return result

    def _mode(self, text: str, problems: list[str]) -> ControlMode:
        wanted = text.strip().casefold()
        if not wanted:
            return self.options.control_mode
        for mode in ControlMode:
            if mode.value == wanted:
                return mode
        for label, mode in self.options.mode_labels.items():
            if label.strip().casefold() == wanted:
                return mode
        problems.append(f"control_mode {text.strip()!r} is not allow, warn or block (add it to mode_labels)")
        return self.options.control_mode

    def _flag(self, text: str, problems: list[str]) -> bool:
        wanted = text.strip().casefold()
        if not wanted:
            return self.options.is_business
        if wanted in TRUE_WORDS or wanted in FALSE_WORDS:
            return wanted in TRUE_WORDS
        problems.append(f"is_business {text.strip()!r} is neither yes nor no")
        return self.options.is_business

    # --- the file ------------------------------------------------------------------------------------------
    def _refuse_stale(self, as_of: datetime) -> None:
        limit = self.options.max_file_age
        if limit is not None and self._age(as_of) > limit:
            raise TransientError(
                f"{self.options.path} is {self._age(as_of)} old, older than max_file_age ({limit}): has the "
                "ERP's export stopped? Nothing was read, so the shop keeps its last confirmed values."
            )

    def _age(self, as_of: datetime) -> timedelta:
        try:
            modified = datetime.fromtimestamp(self.options.path.stat().st_mtime, UTC)
        except OSError as exc:
            raise ConfigError(f"csv source {self.name!r}: cannot read {self.options.path}: {exc.strerror}") from None
        return max(timedelta(0), as_of - modified)

    def _rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(line number, {column option: cell text}) for each non-empty data row; the header is line 1."""
        o = self.options
        xlsx = o.format == "xlsx" or (o.format == "auto" and o.path.suffix.lower() in (".xlsx", ".xlsm"))
        lines = _xlsx_lines(o.path, o.sheet) if xlsx else _csv_lines(o.path, o.encoding, o.delimiter)
        header = next(lines, None)
        if header is None:
            raise ConfigError(f"{o.path} is empty: expected a header line naming the columns")
        index = self._index(header)
        for number, cells in enumerate(lines, start=2):
            if any(c.strip() for c in cells):
                yield number, {field: cells[i] if i < len(cells) else "" for field, i in index.items()}

    def _index(self, header: list[str]) -> dict[str, int]:
        """Column option → position in the file. A required or explicitly named column that is missing, or a
        header that appears twice, makes the whole file unusable: a ``ConfigError`` naming what was found."""
        found: dict[str, int] = {}
        for i, title in enumerate(header):
            key = title.strip().casefold()
            if key in found:
                raise ConfigError(f"{self.options.path}: the column {title.strip()!r} appears twice")
            found[key] = i
        columns = self.options.columns
        index: dict[str, int] = {}
        missing: list[str] = []
        for field, title in columns.model_dump().items():
            if title is None:
                continue
            if title.strip().casefold() in found:
                index[field] = found[title.strip().casefold()]
            elif field in REQUIRED or field in columns.model_fields_set:
                missing.append(f"{field} (header {title!r})")
        if missing:
            raise ConfigError(
                f"{self.options.path}: missing column(s) {', '.join(missing)}; the file has "
                f"{', '.join(repr(h) for h in header) or 'no headers'} (name them in [sources.{self.name}.columns])"
            )
        return index


def _amount(text: str) -> str:
    """An amount cell as the record expects it: no thousands separators; a decimal comma is fine."""
    return text.strip().translate(SEPARATORS)


def _csv_lines(path: Path, encoding: str, delimiter: str) -> Iterator[list[str]]:
    try:
        with path.open(encoding=encoding, newline="") as file:
            yield from csv.reader(file, delimiter=delimiter)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not {encoding} text ({exc.reason} at byte {exc.start}); "
                          "set the source's encoding (Polish Windows exports are often cp1250)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def _xlsx_lines(path: Path, sheet: str | None) -> Iterator[list[str]]:
    from openpyxl import load_workbook  # only XLSX needs it

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises zipfile, KeyError, its own errors…
        raise ConfigError(f"{path} is not a readable XLSX workbook: {type(exc).__name__}: {exc}") from None
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise ConfigError(f"{path} has no sheet {sheet!r} (sheets: {', '.join(workbook.sheetnames)})")
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        for row in worksheet.iter_rows(values_only=True):
            yield [_cell_text(value) for value in row]
    finally:
        workbook.close()


def _cell_text(value: Any) -> str:
    """An XLSX cell as the text a CSV export would hold. Numbers are stored as binary floats in XLSX; their
    shortest representation (``1234.56``) is the number the user typed, so no float reaches the money."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
