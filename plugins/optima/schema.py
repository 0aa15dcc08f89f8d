"""SQLAlchemy Core definitions of the part of an Optima company database the plugin reads.

Names, types, nullability, defaults and IDENTITY keys follow the real ``CDN`` schema (the columns we need,
not all of them; ``tests/optima/test_sql.py`` compares them with the reference DDL). The reader only ever
SELECTs from these tables; the definitions are also used to create demo and test databases (``CDN`` schema
on PostgreSQL, plain table names in SQLite).

``build_metadata(loose=True)`` gives the same tables with every column nullable and amounts with four
decimals: a database "copied by another tool" that can hold the bad data the tests feed the reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Unicode,
    text,
)
from sqlalchemy.dialects.mssql import TINYINT

SCHEMA = "CDN"

# SQL Server's tinyint (0..255). PostgreSQL has no tinyint and SQLite has no types to speak of, so the
# test and demo copies use smallint; the compiled T-SQL (golden files) keeps Optima's real type.
TinyInt = TINYINT().with_variant(SmallInteger(), "sqlite", "postgresql")


# (column, type, default of the demo/test copies). Types after Nazwa3/NipE/Termin are assumptions (see above).
BILLING_COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("Knt_Nazwa3", Unicode(250), "''"),
    ("Knt_NipE", Unicode(20), "''"),
    ("Knt_Termin", SmallInteger, "0"),
    ("Knt_Kraj", Unicode(40), "''"),
    ("Knt_Wojewodztwo", Unicode(40), "''"),
    ("Knt_Powiat", Unicode(40), "''"),
    ("Knt_Gmina", Unicode(40), "''"),
    ("Knt_Ulica", Unicode(60), "''"),
    ("Knt_NrDomu", Unicode(10), "''"),
    ("Knt_NrLokalu", Unicode(10), "''"),
    ("Knt_Miasto", Unicode(40), "''"),
    ("Knt_KodPocztowy", Unicode(10), "''"),
    ("Knt_Poczta", Unicode(40), "''"),
    ("Knt_Adres2", Unicode(60), "''"),
    ("Knt_Telefon1", Unicode(30), "''"),
    ("Knt_Telefon2", Unicode(30), "''"),
    ("Knt_Email", Unicode(255), "''"),
)
BILLING_COLUMN_NAMES = tuple(name for name, _, _ in BILLING_COLUMNS)


@dataclass(frozen=True)
class OptimaTables:
    metadata: MetaData
    kontrahenci: Table
    zdarzenia: Table
    stanowiska: Table
    sklepy: Table


def build_metadata(*, loose: bool = False) -> OptimaTables:
    """The four tables, real shape (``loose=False``) or permissive shape for bad-data tests."""
    md = MetaData()

    def amount(name: str) -> Column:
        return Column(name, Numeric(19, 4) if loose else Numeric(15, 2, asdecimal=True), nullable=loose)

    def col(name: str, type_: Any, *args: Any, nullable: bool = False, **kw: Any) -> Column:
        return Column(name, type_, *args, nullable=nullable or loose, **kw)

    def key(name: str) -> Column:
        # IDENTITY in Optima; every copy we create gets explicit ids, which IDENTITY BY DEFAULT accepts.
        return Column(name, Integer, Identity(), primary_key=True)

    kontrahenci = Table(
        "Kontrahenci",
        md,
        key("Knt_KntId"),
        col("Knt_PodmiotTyp", SmallInteger, nullable=True, server_default=text("1")),  # 1 = Kontrahent
        col("Knt_Kod", String(20 if not loose else 40)),
        col("Knt_Nazwa1", Unicode(50)),
        col("Knt_Nazwa2", Unicode(50)),
        col("Knt_NipKraj", String(2)),
        col("Knt_Nip", Unicode(20)),
        col("Knt_LimitFlag", TinyInt),
        amount("Knt_LimitKredytu"),
        col("Knt_LimitPrzeterKredytFlag", TinyInt),
        amount("Knt_LimitPrzeterKredytWartosc"),
        col("Knt_LimitKredytuWal", String(3)),
        amount("Knt_LimitKredytuWykorzystany"),
        col("Knt_Finalny", TinyInt),
        col("Knt_Nieaktywny", TinyInt),
        col("Knt_TS_Mod", DateTime),
        # Billing data (sync = ["credit", "billing"]), after the credit columns so positional demo rows only grow.
        # Nazwa3, NipE and Termin are in the reference DDL; the others' types are UNCONFIRMED (comarch README
        # §4b: seen by name in public programs): ``check`` reports what the database says. Every one gets a
        # server default in these copies so credit-only test rows need not set them (the real columns may not).
        *(col(name, type_, server_default=text(default)) for name, type_, default in BILLING_COLUMNS),
        schema=SCHEMA,
    )
    zdarzenia = Table(
        "BnkZdarzenia",
        md,
        key("BZd_BZdID"),
        col("BZd_NumerPelny", Unicode(256)),
        col("BZd_PodmiotTyp", SmallInteger),
        col("BZd_PodmiotID", Integer, index=True),
        col("BZd_DataDok", DateTime),
        col("BZd_Termin", DateTime),
        amount("BZd_KwotaSys"),
        amount("BZd_KwotaRozSys"),
        amount("BZd_Kwota"),
        amount("BZd_KwotaRoz"),
        col("BZd_Waluta", String(3)),
        col("BZd_Kierunek", SmallInteger),
        col("BZd_Rozliczono", SmallInteger),
        col("BZd_Rozliczono2", SmallInteger),
        col("BZd_Stan", SmallInteger),
        schema=SCHEMA,
    )
    stanowiska = Table(
        "eSklepStanowiska",
        md,
        key("ESS_ESSId"),
        col("ESS_Nazwa", Unicode(40)),
        col("ESS_Nieaktywny", TinyInt),
        col("ESS_KontrolaLimituPlat", TinyInt),  # codes unconfirmed
        schema=SCHEMA,
    )
    # Which contractor cards are assigned to which e-Sklep (the card's e-Sklep tab in Optima).
    sklepy = Table(
        "KntESklepy",
        md,
        key("KES_KESID"),
        col("KES_KntID", Integer, ForeignKey(kontrahenci.c.Knt_KntId, name="FK_KESKnt")),
        col("KES_eSklepID", Integer, ForeignKey(stanowiska.c.ESS_ESSId, name="FK_KESESS")),
        col("KES_TypCenyDomyslnej", SmallInteger),
        Index("KESKntESS", "KES_KntID", "KES_eSklepID", unique=True),
        schema=SCHEMA,
    )
    return OptimaTables(md, kontrahenci, zdarzenia, stanowiska, sklepy)


TABLES = build_metadata()
