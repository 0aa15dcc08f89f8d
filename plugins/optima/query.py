"""The SELECT statements of the Optima source, built with SQLAlchemy Core for any dialect.

The whole read is one set-based statement: customer cards LEFT JOIN one aggregate over the open payments
(``CDN.BnkZdarzenia``), CROSS JOIN the e-Sklep workstation's control-mode setting, optionally restricted to
the cards assigned to that workstation (``CDN.KntESklepy``). Every statement here is a SELECT;
``tests/optima/golden/`` holds each one compiled for SQL Server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    true,
)

from .schema import BILLING_COLUMN_NAMES, TABLES

K = TABLES.kontrahenci
Z = TABLES.zdarzenia
S = TABLES.stanowiska
KES = TABLES.sklepy

SUMS = ("recv_sys", "net_sys", "overdue_sys", "recv_cur", "net_cur", "overdue_cur")
KONTRAHENT = 1  # *_PodmiotTyp = 1: a contractor card


@dataclass(frozen=True)
class ReadQuery:
    """What shapes the read statement (all of it comes from the options)."""

    system_currency: str = "PLN"
    include_inactive: bool = False
    fixed_mode: bool = False  # the mode comes from the options: no workstation in the statement
    workstation: int | str | None = None  # ESS_ESSId or ESS_Nazwa; None = the database's only workstation
    only_assigned: bool = False  # only cards assigned to the workstation in CDN.KntESklepy
    sqlite: bool = False  # SQLite stores DECIMAL as REAL: amounts are read as text, sums as integer grosze
    billing: bool = False  # also select the billing columns (sync = ["credit", "billing"])


def _amount(expr: ColumnElement, q: ReadQuery) -> ColumnElement:
    """SQLite stores DECIMAL as REAL; CAST AS TEXT gives its exact 15-digit form instead of a float."""
    return cast(expr, String) if q.sqlite else expr


def _summand(expr: ColumnElement, q: ReadQuery) -> ColumnElement:
    """What SUM adds up. SQLite: integer grosze, because a sum of REALs drifts past the 15th digit."""
    return cast(func.round(expr * 100), Integer) if q.sqlite else expr


def _currency(expr: ColumnElement, q: ReadQuery) -> ColumnElement:
    """'' means the system currency (on payments and on the limit)."""
    return case((expr == "", literal(q.system_currency)), else_=expr)


def _sum_when(condition: ColumnElement | None, value: ColumnElement, q: ReadQuery) -> ColumnElement:
    value = _summand(value, q)
    if condition is None:
        return func.sum(value)
    return func.sum(case((condition, value), else_=None))


def payments_aggregate(q: ReadQuery, day_start: datetime) -> Subquery:
    """Open receivables/payables per contractor, in system currency and in the limit's currency.

    Open = ``BZd_Rozliczono = 1`` (unsettled or partly settled), ``BZd_Stan > 0`` (not in the buffer).
    Rows whose status columns are NULL are kept and counted as ``bad_rows``, and rows with a NULL
    ``BZd_PodmiotTyp`` as ``unknown_subject_rows`` of the card with that id (the row may be this customer's
    or another subject's), so the reader can reject the customer instead of silently ignoring a payment.
    """
    k2 = K.alias("kl")
    open_sys = Z.c.BZd_KwotaSys - Z.c.BZd_KwotaRozSys
    open_cur = Z.c.BZd_Kwota - Z.c.BZd_KwotaRoz
    receivable = Z.c.BZd_Kierunek > 0
    overdue = and_(receivable, Z.c.BZd_Termin < literal(day_start, DateTime))
    same_currency = _currency(Z.c.BZd_Waluta, q) == _currency(k2.c.Knt_LimitKredytuWal, q)
    amounts = (Z.c.BZd_KwotaSys, Z.c.BZd_KwotaRozSys, Z.c.BZd_Kwota, Z.c.BZd_KwotaRoz)
    sub_cent = or_(*(a != func.round(a, 2) for a in amounts))
    bad = or_(
        Z.c.BZd_KwotaSys.is_(None), Z.c.BZd_KwotaRozSys.is_(None), Z.c.BZd_Kwota.is_(None),
        Z.c.BZd_KwotaRoz.is_(None), Z.c.BZd_Kierunek.is_(None), Z.c.BZd_Termin.is_(None),
        Z.c.BZd_Waluta.is_(None), Z.c.BZd_Rozliczono.is_(None), Z.c.BZd_Stan.is_(None),
    )
    return (
        select(
            Z.c.BZd_PodmiotID.label("knt_id"),
            _sum_when(receivable, open_sys, q).label("recv_sys"),
            _sum_when(None, Z.c.BZd_Kierunek * open_sys, q).label("net_sys"),
            _sum_when(overdue, open_sys, q).label("overdue_sys"),
            _sum_when(and_(receivable, same_currency), open_cur, q).label("recv_cur"),
            _sum_when(same_currency, Z.c.BZd_Kierunek * open_cur, q).label("net_cur"),
            _sum_when(and_(overdue, same_currency), open_cur, q).label("overdue_cur"),
            func.sum(case((same_currency, 0), else_=1)).label("other_currency_rows"),
            func.sum(case((bad, 1), else_=0)).label("bad_rows"),
            func.sum(case((sub_cent, 1), else_=0)).label("sub_cent_rows"),
            func.sum(case((Z.c.BZd_PodmiotTyp.is_(None), 1), else_=0)).label("unknown_subject_rows"),
            func.count().label("open_rows"),
        )
        .select_from(Z.join(k2, k2.c.Knt_KntId == Z.c.BZd_PodmiotID))
        .where(
            or_(Z.c.BZd_PodmiotTyp == KONTRAHENT, Z.c.BZd_PodmiotTyp.is_(None)),
            or_(Z.c.BZd_Rozliczono == 1, Z.c.BZd_Rozliczono.is_(None)),
            or_(Z.c.BZd_Stan > 0, Z.c.BZd_Stan.is_(None)),
        )
        .group_by(Z.c.BZd_PodmiotID)
        .subquery("pay")
    )


def workstation_filter(workstation: int | str | None) -> list[ColumnElement]:
    """The configured workstation by id or name. None (not configured) filters nothing: the reader accepts
    the result only when the table has exactly one workstation."""
    if workstation is None:
        return []
    if isinstance(workstation, int):
        return [S.c.ESS_ESSId == workstation]
    return [S.c.ESS_Nazwa == workstation]


def workstation_setting(workstation: int | str | None) -> Subquery:
    """Exactly one row: how many workstations match and their (min, max) control-mode code."""
    return (
        select(
            func.count().label("ess_count"),
            func.min(S.c.ESS_KontrolaLimituPlat).label("ess_code"),
            func.max(S.c.ESS_KontrolaLimituPlat).label("ess_code_max"),
        )
        .where(*workstation_filter(workstation))
        .subquery("ess")
    )


def assigned_to_workstation(workstation: int | str | None) -> ColumnElement:
    """The card is assigned to the workstation (a ``CDN.KntESklepy`` row): a semi-join, so a card counts once."""
    return exists(
        select(KES.c.KES_KESID)
        .select_from(KES.join(S, S.c.ESS_ESSId == KES.c.KES_eSklepID))
        .where(KES.c.KES_KntID == K.c.Knt_KntId, *workstation_filter(workstation))
    )


def read_statement(q: ReadQuery, day_start: datetime, codes: Sequence[str] | None = None) -> Select:
    """The one statement of a run: one row per contractor card, ordered by ``Knt_KntId``.

    ``codes`` (``tradecredit explain``): only the cards with these codes, compared trimmed and case-insensitively
    (a code with inner runs of spaces is not found this way; the run reads it).
    """
    pay = payments_aggregate(q, day_start)
    amounts = [
        _amount(K.c.Knt_LimitKredytu, q).label("limit_amount"),
        _amount(K.c.Knt_LimitPrzeterKredytWartosc, q).label("overdue_limit_amount"),
        _amount(K.c.Knt_LimitKredytuWykorzystany, q).label("stored_used"),
        *(pay.c[name] for name in SUMS),
    ]
    columns = [
        K.c.Knt_KntId, K.c.Knt_PodmiotTyp, K.c.Knt_Kod, K.c.Knt_Nazwa1, K.c.Knt_Nazwa2, K.c.Knt_NipKraj,
        K.c.Knt_Nip, K.c.Knt_LimitFlag, K.c.Knt_LimitPrzeterKredytFlag, K.c.Knt_LimitKredytuWal, K.c.Knt_Finalny,
        K.c.Knt_Nieaktywny, *amounts, pay.c.other_currency_rows, pay.c.bad_rows, pay.c.sub_cent_rows,
        pay.c.unknown_subject_rows, pay.c.open_rows,
    ]
    if q.billing:  # only then: a credit-only read stays as narrow as it was
        columns += [K.c[name] for name in BILLING_COLUMN_NAMES]
    source = K.outerjoin(pay, pay.c.knt_id == K.c.Knt_KntId)
    if not q.fixed_mode:
        ess = workstation_setting(q.workstation)
        columns += [ess.c.ess_count, ess.c.ess_code, ess.c.ess_code_max]
        source = source.join(ess, true())
    else:
        columns += [null().label("ess_count"), null().label("ess_code"), null().label("ess_code_max")]
    conditions = [or_(K.c.Knt_PodmiotTyp == KONTRAHENT, K.c.Knt_PodmiotTyp.is_(None))]
    if not q.include_inactive:
        conditions.append(or_(K.c.Knt_Nieaktywny == 0, K.c.Knt_Nieaktywny.is_(None)))
    if q.only_assigned:
        conditions.append(assigned_to_workstation(q.workstation))
    if codes is not None:
        conditions.append(func.lower(func.trim(K.c.Knt_Kod)).in_(sorted({c.strip().lower() for c in codes})))
    return select(*columns).select_from(source).where(*conditions).order_by(K.c.Knt_KntId)


def overdue_documents_statement(q: ReadQuery, knt_id: int, day_start: datetime, limit: int = 20) -> Select:
    """``explain``: the open receivables of one card due before ``day_start`` (what its overdue is made of),
    the oldest first: the document number, its due date and what is still open in the system currency."""
    open_sys = Z.c.BZd_KwotaSys - Z.c.BZd_KwotaRozSys
    return (
        select(Z.c.BZd_NumerPelny, Z.c.BZd_Termin, _amount(open_sys, q).label("open_sys"))
        .where(
            Z.c.BZd_PodmiotID == knt_id, Z.c.BZd_PodmiotTyp == KONTRAHENT, Z.c.BZd_Rozliczono == 1,
            Z.c.BZd_Stan > 0, Z.c.BZd_Kierunek > 0, Z.c.BZd_Termin < literal(day_start, DateTime),
        )
        .order_by(Z.c.BZd_Termin, Z.c.BZd_BZdID)
        .limit(limit)
    )

def codes_statement(q: ReadQuery) -> Select:
    """The codes of the cards ``read_statement`` returns (a superset: the workstation assignment is not applied).

    One cheap pass before the read, so the orchestrator can find duplicate codes without holding the snapshot.
    """
    conditions = [or_(K.c.Knt_PodmiotTyp == KONTRAHENT, K.c.Knt_PodmiotTyp.is_(None))]
    if not q.include_inactive:
        conditions.append(or_(K.c.Knt_Nieaktywny == 0, K.c.Knt_Nieaktywny.is_(None)))
    return select(K.c.Knt_Kod).where(*conditions)


def counts_statement() -> Select:
    """``check``: how many contractor cards there are, by kind (one row)."""
    active = or_(K.c.Knt_Nieaktywny == 0, K.c.Knt_Nieaktywny.is_(None))
    return select(
        func.count().label("cards"),
        func.sum(case((active, 1), else_=0)).label("active"),
        func.sum(case((and_(active, K.c.Knt_Finalny == 0), 1), else_=0)).label("business"),
        func.sum(case((and_(active, K.c.Knt_LimitFlag == 1), 1), else_=0)).label("with_limit"),
        func.sum(case((and_(active, K.c.Knt_LimitPrzeterKredytFlag == 1), 1), else_=0)).label("with_overdue_limit"),
    ).where(or_(K.c.Knt_PodmiotTyp == KONTRAHENT, K.c.Knt_PodmiotTyp.is_(None)))


def workstations_statement() -> Select:
    """``check``: every e-Sklep workstation with its control-mode code."""
    return select(S.c.ESS_ESSId, S.c.ESS_Nazwa, S.c.ESS_Nieaktywny, S.c.ESS_KontrolaLimituPlat).order_by(
        S.c.ESS_ESSId
    )
