"""SQLAlchemy Core definitions of the part of an Optima company database the plugin reads.

Names, types and nullability follow the real ``CDN`` schema (the columns we need, not all of them). The
reader only ever SELECTs from these tables; the definitions are also used to create demo and test
databases (``CDN`` schema on PostgreSQL, plain table names in SQLite).

``build_metadata(loose=True)`` gives the same tables with every column nullable and amounts with four
decimals: a database "copied by another tool" that can hold the bad data the tests feed the reader.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, DateTime, Integer, MetaData, Numeric, SmallInteger, String, Table, Unicode

SCHEMA = "CDN"


@dataclass(frozen=True)
class OptimaTables:
    metadata: MetaData
    kontrahenci: Table
    zdarzenia: Table
    stanowiska: Table


def build_metadata(*, loose: bool = False) -> OptimaTables:
    """The three tables, real shape (``loose=False``) or permissive shape for bad-data tests."""
    md = MetaData()

    def amount(name: str) -> Column:
        return Column(name, Numeric(19, 4) if loose else Numeric(15, 2, asdecimal=True), nullable=loose)

    def col(name: str, type_, nullable: bool = False, **kw) -> Column:  # type: ignore[no-untyped-def]
        return Column(name, type_, nullable=nullable or loose, **kw)

    kontrahenci = Table(
        "Kontrahenci",
        md,
        Column("Knt_KntId", Integer, primary_key=True, autoincrement=False),
        col("Knt_PodmiotTyp", SmallInteger, nullable=True),  # DB default 1 (Kontrahent)
        col("Knt_Kod", String(20 if not loose else 40)),
        col("Knt_Nazwa1", Unicode(50)),
        col("Knt_Nazwa2", Unicode(50)),
        col("Knt_NipKraj", String(2)),
        col("Knt_Nip", Unicode(20)),
        col("Knt_LimitFlag", SmallInteger),  # tinyint
        amount("Knt_LimitKredytu"),
        col("Knt_LimitPrzeterKredytFlag", SmallInteger),  # tinyint
        amount("Knt_LimitPrzeterKredytWartosc"),
        col("Knt_LimitKredytuWal", String(3)),
        amount("Knt_LimitKredytuWykorzystany"),
        col("Knt_Finalny", SmallInteger),  # tinyint
        col("Knt_Nieaktywny", SmallInteger),  # tinyint
        col("Knt_TS_Mod", DateTime),
        schema=SCHEMA,
    )
    zdarzenia = Table(
        "BnkZdarzenia",
        md,
        Column("BZd_BZdID", Integer, primary_key=True, autoincrement=False),
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
        Column("ESS_ESSId", Integer, primary_key=True, autoincrement=False),
        col("ESS_Nazwa", Unicode(40)),
        col("ESS_Nieaktywny", SmallInteger),  # tinyint
        col("ESS_KontrolaLimituPlat", SmallInteger),  # tinyint; codes unconfirmed
        schema=SCHEMA,
    )
    return OptimaTables(md, kontrahenci, zdarzenia, stanowiska)


TABLES = build_metadata()
