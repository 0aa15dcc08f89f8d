"""The CSV/XLSX source: the conformance suite every tradecredit source passes, and what a merchant's export
really looks like (Polish number formats, cp1250, bad rows, missing columns, a stopped export)."""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from tradecredit.sdk import AdapterContext, ConfigError, ControlMode, CreditRecord, LimitState, RejectedRow
from tradecredit.testing import AS_OF, SourceConformance
from tradecredit_csv import CsvOptions, CsvSource

HEADER = "code;name;tax_id;is_business;credit_limit;used;overdue;overdue_limit;control_mode"
ROWS = [
    "KH-001;Hurtownia Kowalski sp. z o.o.;5260250995;tak;10 000,00;2 500,50;0;;blokada",
    "KH-002;Sklep Nowak;7010000000;1;5000.00;6000.00;120.00;100.00;warn",
    "KH-003;Jan Wiśniewski;;nie;;0;0;;",
    "KH-004;Budimex Partner S.A.;1234563218;yes;bez limitu;150000,00;0;0;allow",
]


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def make_source(path: Path, **options: object) -> CsvSource:
    """A ready source, as tradecredit builds it from a [sources.NAME] table."""
    options.setdefault("mode_labels", {"blokada": "block"})
    return CsvSource(CsvOptions.model_validate({"path": path, **options}), AdapterContext(instance_name="erp"))


def records(source: CsvSource) -> dict[str, CreditRecord | RejectedRow]:
    return {str(r.code): r for r in source.read(AS_OF)}


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = write_csv(tmp_path / "export.csv", [HEADER, *ROWS])
    os.utime(path, (AS_OF.timestamp(), AS_OF.timestamp()))  # exported right at the run's as-of time
    return path


class TestCsvConformance(SourceConformance):
    @pytest.fixture
    def source(self, export: Path) -> CsvSource:
        return make_source(export)


class TestXlsxConformance(SourceConformance):
    @pytest.fixture
    def source(self, tmp_path: Path) -> CsvSource:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.append(["Kod", "Limit", "Wykorzystany", "Przeterminowane"])
        sheet.append(["A-1", 1234.56, 100, 0])
        sheet.append(["A-2", None, 0.1, 0])
        sheet.append(["A-3", 1000, 0.005, 0])  # more than two decimals: rejected, never rounded
        path = tmp_path / "export.xlsx"
        book.save(path)
        os.utime(path, (AS_OF.timestamp(), AS_OF.timestamp()))
        columns = {"code": "kod", "credit_limit": "limit", "used": "wykorzystany", "overdue": "przeterminowane"}
        return make_source(path, columns=columns)

    def test_numbers_are_exact(self, source: CsvSource) -> None:
        got = records(source)
        assert isinstance(got["A-1"], CreditRecord) and got["A-1"].credit_limit == Decimal("1234.56")
        assert isinstance(got["A-2"], CreditRecord) and got["A-2"].used == Decimal("0.10")
        assert got["A-2"].limit_state is LimitState.NONE
        assert isinstance(got["A-3"], RejectedRow) and "more than two decimal places" in got["A-3"].reason


def test_every_limit_state_and_mode_of_a_polish_export(export: Path) -> None:
    got = records(make_source(export))
    kowalski, nowak, private, unlimited = (got[c] for c in ("KH-001", "KH-002", "KH-003", "KH-004"))
    assert isinstance(kowalski, CreditRecord)
    assert (kowalski.limit_state, kowalski.credit_limit, kowalski.used) == (
        LimitState.LIMITED, Decimal("10000.00"), Decimal("2500.50"))
    assert kowalski.control_mode is ControlMode.BLOCK and kowalski.is_business
    assert kowalski.overdue_limit is None  # an empty cell: no overdue rule
    assert isinstance(nowak, CreditRecord)
    assert nowak.control_mode is ControlMode.WARN and nowak.overdue_limit == Decimal("100.00")
    assert isinstance(private, CreditRecord)
    assert private.limit_state is LimitState.NONE and not private.is_business
    assert private.control_mode is ControlMode.BLOCK  # the source's default for an empty cell
    assert isinstance(unlimited, CreditRecord)
    assert unlimited.limit_state is LimitState.UNLIMITED and unlimited.credit_limit is None


def test_a_bad_row_is_rejected_with_its_line_and_reasons_and_the_rest_goes_on(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [
        HEADER, ROWS[0], ";no code;;1;100;0;0;;block", "KH-9;X;;maybe;-5,00;0;0;;strict", ROWS[1],
    ])
    got = list(make_source(path, max_file_age=None).read(AS_OF))
    good = [r.code for r in got if isinstance(r, CreditRecord)]
    bad = [r for r in got if isinstance(r, RejectedRow)]
    assert good == ["KH-001", "KH-002"]
    assert bad[0].reason == "line 3: no customer code"
    assert bad[1].code == "KH-9" and bad[1].reason.startswith("line 4: ")
    assert "'strict' is not allow, warn or block" in bad[1].reason and "'maybe' is neither yes nor no" in bad[1].reason


def test_cp1250_export_and_its_encoding_hint(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cp1250.csv", [HEADER, ROWS[2]], encoding="cp1250")
    with pytest.raises(ConfigError, match=r"not utf-8-sig text.*cp1250"):
        list(make_source(path, max_file_age=None).read(AS_OF))
    (row,) = make_source(path, encoding="cp1250", max_file_age=None).read(AS_OF)
    assert isinstance(row, CreditRecord) and row.name == "Jan Wiśniewski"


def test_missing_columns_name_what_the_file_has(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "short.csv", ["Kod;Limit", "KH-1;100"])
    with pytest.raises(ConfigError, match=r"missing column\(s\) code .*credit_limit.*used.*'Kod', 'Limit'"):
        list(make_source(path, max_file_age=None).read(AS_OF))


def test_a_stopped_export_is_refused_not_passed_on_as_fresh(export: Path) -> None:
    os.utime(export, ((AS_OF - timedelta(hours=30)).timestamp(),) * 2)
    source = make_source(export)
    with pytest.raises(Exception, match="older than max_file_age"):
        list(source.read(AS_OF))
    assert [r.status.value for r in source.check(AS_OF)] == ["fail"]


def test_a_relative_path_starts_at_the_config_file(tmp_path: Path, export: Path) -> None:
    options = CsvOptions.model_validate({"path": "export.csv"}, context={"base_dir": export.parent})
    assert options.path == export


def test_the_whole_pipeline_through_the_entry_point(export: Path, tc_host_factory, tc_sqlite_url) -> None:
    """Found through the `tradecredit` entry-point group, as `pip install tradecredit-csv` registers it."""
    from tradecredit.sdk import load_config, run_pipeline
    from tradecredit.testing import FakeTarget, testing_plugin

    host = tc_host_factory(testing_plugin, entrypoints=["csv"], strict=True)
    assert host.source("csv").distribution == "tradecredit-csv"
    config = export.parent / "tradecredit.toml"
    config.write_text(f"""
[state]
url = "{tc_sqlite_url}"

[sources.export]
plugin = "csv"
path = "export.csv"
mode_labels = {{ blokada = "block" }}

[targets.shop]
plugin = "fake"

[[pipelines]]
name = "export-to-shop"
source = "export"
target = "shop"
""", encoding="utf-8")
    FakeTarget.reset()
    report = run_pipeline(load_config(config, host), "export-to-shop", host=host, as_of=AS_OF)
    assert (report.status, report.counts.read, report.counts.written) == ("ok", 4, 4)
    assert FakeTarget.shop["KH-001"]["limit"] == "10000.00" and FakeTarget.shop["KH-004"]["limit"] is None
