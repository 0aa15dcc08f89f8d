"""The subset of the XL company database (schema ``CDN``) the plugin reads, as SQLAlchemy Core tables.

Names and types follow XL (see docs/plugins/xl.md for what each column means to us). Only the columns the
plugin reads or the demo generator fills are declared; a real XL table has many more, which is harmless
because every statement names its columns. XL declares almost no foreign keys, and neither do we.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Identity, Integer, MetaData, Numeric, SmallInteger, String, Table, text
from sqlalchemy.dialects.mssql import TINYINT
from sqlalchemy.types import TypeEngine

SCHEMA = "CDN"
metadata = MetaData()

# tinyint on SQL Server, smallint elsewhere (PostgreSQL has no tinyint).
TinyInt = SmallInteger().with_variant(TINYINT(), "mssql")


def _col(name: str, type_: TypeEngine[Any] | type[TypeEngine[Any]], default: str | None = "0", **kw: Any) -> Column:
    """A NULLable XL column with XL's usual DEFAULT ((0)) / DEFAULT ('')."""
    return Column(name, type_, nullable=True, server_default=None if default is None else text(default), **kw)


def _money(name: str) -> Column:
    return _col(name, Numeric(15, 2, asdecimal=True))


def _rate_l(name: str) -> Column:
    return _col(name, Numeric(15, 10, asdecimal=True))


def _rate_m(name: str) -> Column:
    return _col(name, Numeric(5, 0, asdecimal=True))


def _quantity(name: str) -> Column:
    return _col(name, Numeric(11, 4, asdecimal=True))


def _varchar(name: str, length: int) -> Column:
    return _col(name, String(length), default="''")


def _identity(name: str) -> Column:
    return Column(name, Integer, Identity(), primary_key=True, autoincrement=True)

# (column, varchar length): types after Nazwa3/NipPrefiks are assumptions (see KntKarty).
BILLING_COLUMNS: tuple[tuple[str, int], ...] = (
    ("Knt_Nazwa3", 250), ("Knt_NipPrefiks", 2), ("Knt_Kraj", 40), ("Knt_Wojewodztwo", 40), ("Knt_Powiat", 40),
    ("Knt_Ulica", 60), ("Knt_Adres", 60), ("Knt_KodP", 10), ("Knt_Miasto", 40), ("Knt_Telefon1", 30),
    ("Knt_Telefon2", 30), ("Knt_Fax", 30), ("Knt_EMail", 255), ("Knt_URL", 255),
)
BILLING_COLUMN_NAMES = tuple(name for name, _ in BILLING_COLUMNS)

KntKarty = Table(
    "KntKarty", metadata,
    _col("Knt_GIDTyp", SmallInteger),
    _col("Knt_GIDFirma", Integer),
    _identity("Knt_GIDNumer"),
    _varchar("Knt_Akronim", 20),
    _varchar("Knt_Nazwa1", 50),
    _varchar("Knt_Nazwa2", 50),
    _varchar("Knt_NipE", 20),
    _varchar("Knt_Nip", 20),
    _money("Knt_MaxLimitWart"),
    _money("Knt_LimitPoTerminie"),
    _col("Knt_Status", TinyInt),
    _col("Knt_LastModC", Integer),
    _col("Knt_Nieaktywny", TinyInt),
    _col("Knt_Archiwalny", SmallInteger),
    _col("Knt_LimitTerminowy", SmallInteger),
    _col("Knt_KnPTyp", SmallInteger),
    _col("Knt_KnPNumer", Integer),
    _col("Knt_KnPParam", TinyInt),
    # Billing data (sync = ["credit", "billing"]), after the credit columns so positional demo rows only grow.
    # Nazwa3 and NipPrefiks are in the reference DDL; the others' types are UNCONFIRMED (comarch README §4b):
    # ``check`` reports what the database says.
    *(_varchar(name, length) for name, length in BILLING_COLUMNS),
    schema=SCHEMA,
)

KntLimityK = Table(
    "KntLimityK", metadata,
    _identity("KLK_Id"),
    _col("KLK_KntTyp", SmallInteger),
    _col("KLK_KntNumer", Integer),
    _money("KLK_MaxLimitWart"),
    _money("KLK_LimitPoTerminie"),
    _col("KLK_DataOd", Integer),
    _col("KLK_DataDo", Integer),
    _varchar("KLK_Waluta", 3),
    _col("KLK_NrKursu", SmallInteger),
    _rate_m("KLK_KursM"),
    _rate_l("KLK_KursL"),
    _col("KLK_CzasModyfikacji", Integer),
    schema=SCHEMA,
)

TraPlat = Table(
    "TraPlat", metadata,
    Column("TrP_GIDTyp", SmallInteger, primary_key=True, autoincrement=False),
    Column("TrP_GIDNumer", Integer, primary_key=True, autoincrement=False),
    Column("TrP_GIDLp", SmallInteger, primary_key=True, autoincrement=False),
    _col("TrP_KntTyp", SmallInteger),
    _col("TrP_KntNumer", Integer),
    _varchar("TrP_Waluta", 3),
    _rate_m("TrP_KursM"),
    _rate_l("TrP_KursL"),
    _col("TrP_Typ", SmallInteger),
    _col("TrP_Termin", Integer),
    _money("TrP_Kwota"),
    _money("TrP_Pozostaje"),
    _col("TrP_Rozliczona", TinyInt),
    _money("TrP_KwotaSys"),
    _money("TrP_PozostajeSys"),
    schema=SCHEMA,
)

Rezerwacje = Table(
    "Rezerwacje", metadata,
    _col("Rez_GIDTyp", SmallInteger),
    _identity("Rez_GIDNumer"),
    _col("Rez_KntTyp", SmallInteger),
    _col("Rez_KntNumer", Integer),
    _col("Rez_ZrdTyp", SmallInteger),
    _col("Rez_ZrdNumer", Integer),
    _col("Rez_ZrdLp", SmallInteger),
    _quantity("Rez_Ilosc"),
    _quantity("Rez_Zrealizowano"),
    _col("Rez_DataWaznosci", Integer),
    _col("Rez_DataAktywacji", Integer),
    _col("Rez_Aktywna", TinyInt),
    schema=SCHEMA,
)

ZamNag = Table(
    "ZamNag", metadata,
    _identity("ZaN_GIDNumer"),
    _col("ZaN_GIDTyp", SmallInteger),
    _col("ZaN_KntTyp", SmallInteger),
    _col("ZaN_KntNumer", Integer),
    _varchar("ZaN_Waluta", 3),
    _rate_l("ZaN_KursL"),
    _rate_m("ZaN_KursM"),
    schema=SCHEMA,
)

ZamElem = Table(
    "ZamElem", metadata,
    Column("ZaE_GIDNumer", Integer, primary_key=True, autoincrement=False),
    Column("ZaE_GIDLp", SmallInteger, primary_key=True, autoincrement=False),
    _col("ZaE_GIDTyp", SmallInteger),
    _quantity("ZaE_Ilosc"),
    _col("ZaE_CenaUzgodniona", Numeric(15, 4, asdecimal=True)),
    _varchar("ZaE_Waluta", 3),
    schema=SCHEMA,
)

TraNag = Table(
    "TraNag", metadata,
    _col("TrN_GIDTyp", SmallInteger),
    _identity("TrN_GIDNumer"),
    _col("TrN_KntTyp", SmallInteger),
    _col("TrN_KntNumer", Integer),
    _col("TrN_Data2", Integer),
    _col("TrN_Stan", SmallInteger),
    _varchar("TrN_Waluta", 3),
    _rate_m("TrN_KursM"),
    _rate_l("TrN_KursL"),
    _money("TrN_NettoR"),
    _money("TrN_VatR"),
    _col("TrN_Platnosci", TinyInt),
    schema=SCHEMA,
)

PicoKonfig = Table(
    "PicoKonfig", metadata,
    _identity("PcK_PicoID"),
    _col("PcK_CentrumID", Integer),
    Column("PcK_Stan", SmallInteger, nullable=False, server_default=text("0")),
    _col("PcK_Typ", SmallInteger),
    _col("PcK_ExpUwzgledniajRezerwacje", TinyInt),
    _col("PcK_LimitKrObs", TinyInt),
    _col("PcK_LimitKrMaksCzas", SmallInteger),
    _col("PcK_LimitKrPrez", TinyInt, default="1"),
    schema=SCHEMA,
)

TABLES = (KntKarty, KntLimityK, TraPlat, Rezerwacje, ZamNag, ZamElem, TraNag, PicoKonfig)
