"""The one set-based statement that reads every customer's credit, and the small mode/arity look-ups.

All money sums are computed in SQL as integer *cents* (each row rounded to 0.01 first, like XL's own
``ROUND(x, 2)``), so SQLite, whose NUMERIC columns hold binary floats, still yields exact amounts: the
plugin turns the integers into ``Decimal`` itself. Currency conversion of the limit happens in Python
(exact ``Decimal``). Bind parameters: ``today`` (XL day number), ``overdue_before`` (XL day number),
``sys_currency`` and, for ``used = "functions"``, ``xl_ts`` and ``tolerance``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Integer, and_, bindparam, case, cast, func, literal, or_, select
from sqlalchemy.sql import ColumnElement, Select

from .options import XlOptions
from .schema import BILLING_COLUMN_NAMES, KntKarty, KntLimityK, PicoKonfig, Rezerwacje, TraNag, TraPlat, ZamElem, ZamNag

RECEIVABLE = 2  # TrP_Typ: 2 = należność
CUSTOMER_RESERVATION = 2576  # Rez_GIDTyp
ORDER_SOURCE = 960  # Rez_ZrdTyp: ZS order (CDN.ZamNag)

USED_FUNCTION = "SumaWartosciKredytuKontrahenta"
OVERDUE_FUNCTION = "SumaWartosciKredytuTerminKontrahenta"

TODAY = bindparam("today", type_=Integer)
OVERDUE_BEFORE = bindparam("overdue_before", type_=Integer)


def _sys_currency() -> ColumnElement[Any]:
    return bindparam("sys_currency")


def _zero(col: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.coalesce(col, 0)


def _in_treating_null_as_zero(col: ColumnElement[Any], codes: list[int] | tuple[int, ...]) -> ColumnElement[bool]:
    """``COALESCE(col, 0) IN codes``, written so planners can use the column's statistics.

    PostgreSQL guesses 0.5 % selectivity for a filter on an expression; on 100,000 cards that estimate made
    it re-run every per-payer aggregate once per customer.
    """
    test = col.in_(codes)
    return or_(test, col.is_(None)) if 0 in codes else test


def is_foreign(currency: ColumnElement[Any]) -> ColumnElement[bool]:
    """'' and the system currency are the system currency; anything else needs a rate."""
    cur = func.coalesce(currency, "")
    return and_(cur != "", cur != _sys_currency())


def in_system_currency(amount: ColumnElement[Any], currency: ColumnElement[Any], rate_l: Any, rate_m: Any) -> Any:
    """``amount`` in the system currency: foreign amounts × KursL / KursM (NULL when the rate is missing)."""
    return case((is_foreign(currency), amount * rate_l / func.nullif(rate_m, 0)), else_=amount)


def missing_rate(currency: ColumnElement[Any], rate_l: Any, rate_m: Any) -> ColumnElement[Any]:
    """1 for a foreign-currency row without a usable exchange rate, else 0 (summed into a bad-data count)."""
    return case((and_(is_foreign(currency), or_(_zero(rate_m) == 0, _zero(rate_l) == 0)), 1), else_=0)


def cents(amount: Any) -> ColumnElement[Any]:
    """Round to 0.01 and express in integer cents (exact on every engine, including SQLite's floats)."""
    return cast(func.round(amount * 100, 0), BigInteger)


def payer_of(card: Any) -> ColumnElement[Any]:
    """The card's declared payer: the card itself when Knt_KnPParam = 0, else Knt_KnPNumer."""
    return case((_zero(card.c.Knt_KnPParam) == 0, card.c.Knt_GIDNumer), else_=card.c.Knt_KnPNumer)


def _paying_cards() -> Any:
    """Cards that are the payer of another card."""
    c = KntKarty.c
    return (
        select(c.Knt_KnPNumer.label("paying"))
        .where(c.Knt_KnPParam != 0, c.Knt_KnPNumer != c.Knt_GIDNumer)
        .group_by(c.Knt_KnPNumer)
        .cte("paying_cards")
    )


def head_of(card: Any, paying: Any) -> ColumnElement[Any]:
    """The card whose limit and exposure ``card`` belongs to. One payer level only: a card that pays for others
    is its own payer (its own payer setting is not followed), so each receivable counts exactly once, in the
    group whose limit is checked for it (K → P → Q: K and P are checked on P, with K's and P's debt).
    ``paying`` is ``_paying_cards()`` joined on the card."""
    return case((paying.c.paying.is_not(None), card.c.Knt_GIDNumer), else_=payer_of(card))


def _payers(paying: Any) -> Any:
    # The CAST gives the CASE an INTEGER type: SQLite only indexes an expression column that has an affinity,
    # and without it scanned each per-payer aggregate once per customer (a 100,000-customer read took 590 s).
    payer = cast(head_of(KntKarty, paying), Integer)
    return (
        select(KntKarty.c.Knt_GIDNumer.label("knt"), payer.label("payer"))
        .select_from(KntKarty.outerjoin(paying, paying.c.paying == KntKarty.c.Knt_GIDNumer))
        .cte("payer_of")
    )


def _valid_limits() -> Any:
    """Limit rows valid today, ranked: latest KLK_DataOd wins, ties go to the highest KLK_Id."""
    part = KntLimityK.c.KLK_KntNumer
    return (
        select(
            KntLimityK.c.KLK_Id, KntLimityK.c.KLK_KntNumer, KntLimityK.c.KLK_MaxLimitWart,
            KntLimityK.c.KLK_LimitPoTerminie, KntLimityK.c.KLK_DataOd, KntLimityK.c.KLK_DataDo,
            KntLimityK.c.KLK_Waluta, KntLimityK.c.KLK_KursL, KntLimityK.c.KLK_KursM,
            func.row_number()
            .over(partition_by=part, order_by=(KntLimityK.c.KLK_DataOd.desc(), KntLimityK.c.KLK_Id.desc()))
            .label("rn"),
            func.count().over(partition_by=part).label("valid_rows"),
        )
        .where(KntLimityK.c.KLK_DataOd <= TODAY, KntLimityK.c.KLK_DataDo >= TODAY)
        .cte("valid_limits")
    )


def _receivables(options: XlOptions, payers: Any) -> Any:
    t = TraPlat.c
    if options.receivable_amount == "sys_column":
        amount: Any = t.TrP_PozostajeSys
        bad: Any = literal(0)
    else:
        amount = in_system_currency(t.TrP_Pozostaje, t.TrP_Waluta, t.TrP_KursL, t.TrP_KursM)
        bad = missing_rate(t.TrP_Waluta, t.TrP_KursL, t.TrP_KursM)
    row_cents = cents(amount)
    conditions = [t.TrP_Typ == RECEIVABLE, _in_treating_null_as_zero(t.TrP_Rozliczona, options.open_settlement_codes)]
    if options.receivable_document_types is not None:
        conditions.append(t.TrP_GIDTyp.in_(options.receivable_document_types))
    return (
        select(
            payers.c.payer,
            func.sum(row_cents).label("used_cents"),
            # TrP_Termin = 0 is XL's empty date: no due date, never overdue.
            func.sum(case((and_(t.TrP_Termin < OVERDUE_BEFORE, t.TrP_Termin != 0), row_cents), else_=0)).label(
                "overdue_cents"),
            func.count().label("open_payments"),
            func.sum(bad).label("payments_without_rate"),
        )
        .select_from(TraPlat.join(payers, payers.c.knt == t.TrP_KntNumer))
        .where(*conditions)
        .group_by(payers.c.payer)
        .cte("receivables")
    )


def _reservations(payers: Any) -> Any:
    r, e, n = Rezerwacje.c, ZamElem.c, ZamNag.c
    open_qty = r.Rez_Ilosc - _zero(r.Rez_Zrealizowano)
    value = in_system_currency(open_qty * e.ZaE_CenaUzgodniona, n.ZaN_Waluta, n.ZaN_KursL, n.ZaN_KursM)
    valued = e.ZaE_GIDNumer.is_not(None)
    return (
        select(
            payers.c.payer,
            func.sum(case((valued, cents(value)), else_=0)).label("reserved_cents"),
            func.sum(case((valued, 0), else_=1)).label("reservations_unvalued"),
            func.sum(case((valued, missing_rate(n.ZaN_Waluta, n.ZaN_KursL, n.ZaN_KursM)), else_=0)).label(
                "reservations_without_rate"
            ),
        )
        .select_from(
            Rezerwacje.join(payers, payers.c.knt == r.Rez_KntNumer)
            .outerjoin(ZamElem, and_(e.ZaE_GIDNumer == r.Rez_ZrdNumer, e.ZaE_GIDLp == r.Rez_ZrdLp))
            .outerjoin(ZamNag, n.ZaN_GIDNumer == r.Rez_ZrdNumer)
        )
        .where(
            r.Rez_GIDTyp == CUSTOMER_RESERVATION,
            r.Rez_ZrdTyp == ORDER_SOURCE,
            r.Rez_Aktywna == 1,
            r.Rez_DataAktywacji <= TODAY,
            r.Rez_DataWaznosci >= TODAY,
            open_qty > 0,
        )
        .group_by(payers.c.payer)
        .cte("reservations")
    )


def _documents_without_payments(options: XlOptions, payers: Any) -> Any:
    d = TraNag.c
    value = in_system_currency(_zero(d.TrN_NettoR) + _zero(d.TrN_VatR), d.TrN_Waluta, d.TrN_KursL, d.TrN_KursM)
    return (
        select(
            payers.c.payer,
            func.sum(cents(value)).label("unpaid_documents_cents"),
            func.sum(missing_rate(d.TrN_Waluta, d.TrN_KursL, d.TrN_KursM)).label("documents_without_rate"),
        )
        .select_from(TraNag.join(payers, payers.c.knt == d.TrN_KntNumer))
        .where(
            _in_treating_null_as_zero(d.TrN_Platnosci, [0]),
            d.TrN_GIDTyp.in_(options.document_types_without_payments),
        )
        .group_by(payers.c.payer)
        .cte("documents_without_payments")
    )


def function_args(kind: str, arity: int, options: XlOptions, payer: Any) -> list[Any]:
    """Explicit arguments for XL's credit functions (S6's layout), padded with 0 up to ``arity``."""
    flags = [
        literal(int(options.include_documents_without_payments)),
        literal(int(options.include_reservations)),
        literal(int(options.functions_main_balance)),
    ]
    ts = bindparam("xl_ts", type_=Integer)
    tolerance = bindparam("tolerance", type_=Integer)
    prefix = [ts, payer, *flags] if kind == USED_FUNCTION else [ts, tolerance, payer, *flags]
    if arity < len(prefix):
        raise ValueError(f"CDN.{kind} needs at least {len(prefix)} parameters for the explicit flags, not {arity}")
    return prefix + [literal(0)] * (arity - len(prefix))


def credit_query(
    options: XlOptions, arity: dict[str, int] | None = None, codes: Sequence[str] | None = None, *,
    billing: bool = False,
) -> Select[Any]:
    """One statement: every card with its payer, the payer's valid limit and the payer's exposure (and, with
    ``billing``, the card's own billing columns).

    ``codes`` (``tradecredit explain``): only the cards with these codes (``Knt_Akronim``, trimmed, any case).
    """
    k = KntKarty.alias("k")
    p = KntKarty.alias("p")
    paying = _paying_cards()
    payer_ref = head_of(k, paying)
    limits = _valid_limits()
    columns: list[Any] = [
        k.c.Knt_GIDNumer.label("erp_id"), k.c.Knt_Akronim.label("code"), k.c.Knt_Nazwa1.label("name1"),
        k.c.Knt_Nazwa2.label("name2"), k.c.Knt_NipE.label("nip_e"), k.c.Knt_Nip.label("nip"),
        k.c.Knt_Status.label("status"), k.c.Knt_Archiwalny.label("archived"),
        k.c.Knt_KnPParam.label("payer_param"), payer_ref.label("payer_ref"), payer_of(k).label("declared_payer"),
        p.c.Knt_GIDNumer.label("payer_id"), p.c.Knt_Akronim.label("payer_code"),
        p.c.Knt_LimitTerminowy.label("limit_flag"),
        limits.c.KLK_Id.label("limit_id"), limits.c.KLK_MaxLimitWart.label("limit_amount"),
        limits.c.KLK_LimitPoTerminie.label("overdue_limit"), limits.c.KLK_DataOd.label("valid_from"),
        limits.c.KLK_DataDo.label("valid_to"), limits.c.KLK_Waluta.label("limit_currency"),
        limits.c.KLK_KursL.label("rate_l"), limits.c.KLK_KursM.label("rate_m"),
        limits.c.valid_rows.label("valid_limit_rows"),
    ]
    if billing:  # only then: a credit-only read stays as narrow as it was
        columns += [k.c[name] for name in BILLING_COLUMN_NAMES]
    joined: Any = k.outerjoin(paying, paying.c.paying == k.c.Knt_GIDNumer).outerjoin(
        p, p.c.Knt_GIDNumer == payer_ref).outerjoin(
        limits, and_(limits.c.KLK_KntNumer == p.c.Knt_GIDNumer, limits.c.rn == 1)
    )
    if options.used == "functions":
        arity = arity or options.expected_function_arity
        payer_id = p.c.Knt_GIDNumer
        used_fn = getattr(func.CDN, USED_FUNCTION)(
            *function_args(USED_FUNCTION, arity[USED_FUNCTION], options, payer_id)
        )
        overdue_fn = getattr(func.CDN, OVERDUE_FUNCTION)(
            *function_args(OVERDUE_FUNCTION, arity[OVERDUE_FUNCTION], options, payer_id)
        )
        columns += [
            case((p.c.Knt_GIDNumer.is_not(None), cents(used_fn))).label("used_cents"),
            case((p.c.Knt_GIDNumer.is_not(None), cents(overdue_fn))).label("overdue_cents"),
        ]
    else:
        payers = _payers(paying)
        debt = _receivables(options, payers)
        joined = joined.outerjoin(debt, debt.c.payer == p.c.Knt_GIDNumer)
        columns += [debt.c.used_cents, debt.c.overdue_cents, debt.c.open_payments, debt.c.payments_without_rate]
        if options.include_reservations:
            res = _reservations(payers)
            joined = joined.outerjoin(res, res.c.payer == p.c.Knt_GIDNumer)
            columns += [res.c.reserved_cents, res.c.reservations_unvalued, res.c.reservations_without_rate]
        if options.include_documents_without_payments:
            docs = _documents_without_payments(options, payers)
            joined = joined.outerjoin(docs, docs.c.payer == p.c.Knt_GIDNumer)
            columns += [docs.c.unpaid_documents_cents, docs.c.documents_without_rate]
    stmt = select(*columns).select_from(joined)
    if not options.include_archived:
        stmt = stmt.where(_in_treating_null_as_zero(k.c.Knt_Archiwalny, [0]))
    if codes is not None:
        stmt = stmt.where(func.lower(func.trim(k.c.Knt_Akronim)).in_(sorted({c.strip().lower() for c in codes})))
    return stmt.order_by(k.c.Knt_GIDNumer)


def codes_query(options: XlOptions) -> Select[Any]:
    """The codes (``Knt_Akronim``) of the cards ``credit_query`` returns: the orchestrator's duplicate index."""
    k = KntKarty.alias("k")
    stmt = select(k.c.Knt_Akronim)
    if not options.include_archived:
        stmt = stmt.where(_in_treating_null_as_zero(k.c.Knt_Archiwalny, [0]))
    return stmt


def mode_query() -> Select[Any]:
    """The branch's credit-limit handling code (PcK_LimitKrObs)."""
    return select(PicoKonfig.c.PcK_LimitKrObs).where(PicoKonfig.c.PcK_PicoID == bindparam("branch_id", type_=Integer))


def branches_query() -> Select[Any]:
    """Every branch id (``config validate`` checks the configured ``branch_id`` is one of them)."""
    return select(PicoKonfig.c.PcK_PicoID).order_by(PicoKonfig.c.PcK_PicoID)


def arity_query() -> Select[Any]:
    """Parameter counts of XL's credit functions, from SQL Server's catalog (return value excluded)."""
    from sqlalchemy import column, table

    objects = table("objects", column("object_id"), column("name"), column("schema_id"), schema="sys")
    params = table("parameters", column("object_id"), column("parameter_id"), schema="sys")
    return (
        select(objects.c.name, func.count(params.c.parameter_id).label("arity"))
        .select_from(
            objects.outerjoin(
                params, and_(params.c.object_id == objects.c.object_id, params.c.parameter_id > 0)
            )
        )
        .where(objects.c.schema_id == func.schema_id("CDN"), objects.c.name.in_([USED_FUNCTION, OVERDUE_FUNCTION]))
        .group_by(objects.c.name)
    )
