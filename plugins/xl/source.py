"""``XlSource``: reads customers' trade credit from a Comarch ERP XL company database."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from tradecredit.plugins.comarch import (
    XL_MODE_LABELS,
    check_billing_columns,
    expected_tables,
    not_checked,
    streaming,
)
from tradecredit.sdk import (
    BILLING,
    CREDIT,
    AdapterContext,
    BillingRecord,
    CheckResult,
    CheckStatus,
    ConfigError,
    ControlMode,
    CreditRecord,
    ExpectedTable,
    LimitState,
    RejectedRow,
    Source,
    billing_or_rejection,
    create_source_engine,
    install_read_only_guard,
    mask,
    mode_from_code,
    normalise_code,
    record_or_rejection,
    round_money,
    undecodable,
)

from . import query
from .options import XlOptions
from .schema import BILLING_COLUMN_NAMES
from .xldates import from_xl_date, to_xl_date, to_xl_timestamp

_LABEL_OF = {mode: label for label, mode in XL_MODE_LABELS.items()}


def _cents(value: Any) -> Decimal:
    return (Decimal(int(value or 0)) / 100).quantize(Decimal("0.01"))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class XlSource(Source[XlOptions]):
    """Comarch ERP XL: dated limits (KntLimityK), payer cards, TraPlat receivables, reservations."""

    description: ClassVar[str] = "Comarch ERP XL (dated credit limits, payers, receivables, reservations)"
    kinds: ClassVar[frozenset[str]] = frozenset({CREDIT, BILLING})

    def __init__(self, options: XlOptions, context: AdapterContext) -> None:
        super().__init__(options, context)
        self.opts = options  # short name the methods below use; the same object as self.options
        self._engine: Engine | None = None
        self.statements: list[str] = []

    # --- plumbing ---------------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_source_engine(self.opts.url)
            self.statements = install_read_only_guard(self._engine)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def local(self, as_of: datetime) -> datetime:
        """``as_of`` in XL's local zone (XL stores local day numbers and timestamps)."""
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        return as_of.astimezone(ZoneInfo(self.opts.timezone))

    def params(self, as_of: datetime) -> dict[str, Any]:
        local = self.local(as_of)
        today = to_xl_date(local.date())
        params: dict[str, Any] = {
            "today": today,
            "overdue_before": today - self.opts.overdue_tolerance_days,
            "sys_currency": self.opts.system_currency,
        }
        if self.opts.used == "functions":
            params |= {"xl_ts": to_xl_timestamp(local), "tolerance": self.opts.overdue_tolerance_days}
        return params

    # --- control mode and function arity ----------------------------------------------------------------
    def control_mode(self, conn: Any = None) -> tuple[ControlMode, str]:
        """The mode and where it came from."""
        if self.opts.control_mode is not None:
            return self.opts.control_mode, "control_mode option"
        with (streaming(self.engine) if conn is None else _same(conn)) as c:
            row = c.execute(query.mode_query(), {"branch_id": self.opts.branch_id}).first()
        if row is None:
            raise ConfigError(f"branch_id {self.opts.branch_id}: no such branch in CDN.PicoKonfig (PcK_PicoID)")
        code = row[0]
        try:
            mode = mode_from_code(None if code is None else int(code), self.opts.mode_codes)
        except ValueError as exc:
            raise ConfigError(f"branch {self.opts.branch_id}: PcK_LimitKrObs {exc}; extend mode_codes") from None
        origin = f"PcK_LimitKrObs = {code} of branch {self.opts.branch_id} ({_LABEL_OF[mode]}, code table UNCONFIRMED)"
        return mode, origin

    def function_arity(self, conn: Any) -> dict[str, int]:
        """Read the XL functions' parameter counts and refuse to call them when they differ from the config."""
        if conn.dialect.name != "mssql":
            raise ConfigError(f"used = 'functions' needs SQL Server; this source is {conn.dialect.name}")
        found = {str(name): int(n) for name, n in conn.execute(query.arity_query())}
        check_arity(found, self.opts.expected_function_arity)
        return found

    # --- reading ----------------------------------------------------------------------------------------
    @property
    def billing(self) -> bool:
        """The pipeline syncs billing data: the read selects the card's billing columns too."""
        return BILLING in self.context.sync

    def read(self, as_of: datetime) -> Iterator[CreditRecord | BillingRecord | RejectedRow]:
        params = self.params(as_of)
        billing = self.billing
        with streaming(self.engine) as conn:
            mode, _ = self.control_mode(conn)
            arity = self.function_arity(conn) if self.opts.used == "functions" else None
            result = conn.execute(query.credit_query(self.opts, arity, billing=billing), params)
            for row in result.mappings():
                record = self.record(row, as_of, mode)
                yield record
                if billing and isinstance(record, CreditRecord):
                    yield self.build_billing(row, record.code)

    def build_billing(self, row: Mapping[Any, Any], code: str) -> BillingRecord | RejectedRow:
        """The card's own billing columns (comarch README §4b; docs/billing.md has the mapping). XL has no
        house/flat columns: ``Knt_Ulica`` holds the street with its number, ``Knt_Adres`` a second address line
        (inferred); the card has no payment-term column among §4b's, so no payment term is sent."""
        def text(name: str) -> str | None:
            value = row[name]
            return value if value is None or isinstance(value, str) else str(value)

        street = " ".join(p.strip() for p in (text("Knt_Ulica") or "", text("Knt_Adres") or "") if p.strip())
        return billing_or_rejection(
            self.name, row["erp_id"], code, countries=self.context.countries, country=text("Knt_Kraj"),
            name_lines=(text("name1"), text("name2"), text("Knt_Nazwa3")),
            nip_country=text("Knt_NipPrefiks"), nip=text("nip_e") or text("nip"), street=street,
            postal_code=text("Knt_KodP"), city=text("Knt_Miasto"), region=text("Knt_Wojewodztwo"),
            phone=text("Knt_Telefon1") or text("Knt_Telefon2"), email=text("Knt_EMail"),
        )

    def read_codes(self, codes: Sequence[str], as_of: datetime) -> Iterator[CreditRecord | RejectedRow]:
        """Only these customers: the run's statement filtered by ``Knt_Akronim`` (``tradecredit explain``)."""
        params = self.params(as_of)
        wanted = {normalise_code(c) for c in codes}
        with streaming(self.engine) as conn:
            mode, _ = self.control_mode(conn)
            arity = self.function_arity(conn) if self.opts.used == "functions" else None
            result = conn.execute(query.credit_query(self.opts, arity, codes=codes), params)
            for row in result.mappings():
                item = self.record(row, as_of, mode)
                if item.code is not None and normalise_code(item.code) in wanted:
                    yield item

    def describe(self, record: CreditRecord) -> dict[str, str]:
        """The CDN columns behind the values (``tradecredit explain``): only names and values, no prose."""
        x = record.extra
        payer = f"[payer = {record.payer_code or record.code}]"
        if record.limit_state is LimitState.UNLIMITED:
            limit = f"Knt_LimitTerminowy = 0 {payer}"
        elif record.limit_state is LimitState.LAPSED:
            limit = f"Knt_LimitTerminowy = 1; CDN.KntLimityK: — {payer}"
        else:
            limit = (f"CDN.KntLimityK.KLK_Id = {x.get('limit_id')}; KLK_MaxLimitWart = "
                     f"{x.get('limit_original') or record.credit_limit}; KLK_DataOd–KLK_DataDo = "
                     f"{record.valid_from}–{record.valid_to} {payer}")
        parts = [f"Σ CDN.TraPlat TrP_Pozostaje = {x.get('receivables')}"]
        parts += [f"{key} = {x[key]}" for key in ("reservations", "documents_without_payments") if key in x]
        mode = (f"control_mode = {self.opts.control_mode.value}" if self.opts.control_mode is not None
                else f"CDN.PicoKonfig.PcK_LimitKrObs [branch = {self.opts.branch_id}] → {record.control_mode.value}")
        return {
            "limit": limit, "used": " + ".join(parts) + f" [used = {self.opts.used}]",
            "overdue": f"Σ CDN.TraPlat TrP_Termin < {self.local(record.as_of).date()} = {record.overdue}",
            "overdue_limit": f"KLK_LimitPoTerminie = {record.overdue_limit} "
                             f"[overdue_limit = {self.opts.overdue_limit}]",
            "mode": mode,
        }

    def keys(self, as_of: datetime) -> Iterator[str]:
        """Every card code the read may return (one ``SELECT`` of ``Knt_Akronim``): lets the run stream in chunks."""
        with streaming(self.engine) as conn:
            for (code,) in conn.execute(query.codes_query(self.opts)):
                if isinstance(code, str):
                    yield code

    def record(self, row: Mapping[Any, Any], as_of: datetime, mode: ControlMode) -> CreditRecord | RejectedRow:
        """Turn one result row into a record, or a rejection naming every problem found."""
        erp_id, code = row["erp_id"], row["code"]
        bad_text = undecodable(row)
        if bad_text:
            # one card with bytes the ERP's encoding cannot hold is bad data, not a reason to stop the read
            shown = code.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if isinstance(code, str) \
                else None
            return RejectedRow(source=self.name, erp_id=_text(erp_id), code=shown, reason="; ".join(bad_text))
        problems: list[str] = []
        if row["payer_id"] is None:
            problems.append(
                f"payer card {row['payer_ref']} (Knt_KnPNumer, Knt_KnPParam = {row['payer_param']}) not found"
            )
        elif row["limit_flag"] not in (0, 1):
            whose = "" if row["payer_id"] == erp_id else f" of payer card {row['payer_code']}"
            what = "NULL" if row["limit_flag"] is None else f"{row['limit_flag']}, neither 0 nor 1"
            problems.append(f"Knt_LimitTerminowy{whose} is {what} (the credit type: 0 = nieograniczony, "
                            "1 = ograniczony); fix the card in XL")
        for key, what in (
            ("payments_without_rate", "open receivable(s) in a foreign currency have no exchange rate"),
            ("reservations_without_rate", "reservation(s) on a foreign-currency order have no exchange rate"),
            ("documents_without_rate", "document(s) without payments in a foreign currency have no exchange rate"),
        ):
            if row.get(key):
                problems.append(f"{row[key]} {what}")
        fields: dict[str, Any] = {}
        if not problems:
            try:
                fields = self._fields(row, as_of, mode)
            except _BadRow as exc:
                problems.append(str(exc))
        if problems:
            text_code = None if code is None else str(code)
            return RejectedRow(source=self.name, erp_id=_text(erp_id), code=text_code, reason="; ".join(problems))
        return record_or_rejection(self.name, erp_id, code, **fields)

    def _fields(self, row: Mapping[str, Any], as_of: datetime, mode: ControlMode) -> dict[str, Any]:
        sys_cur = self.opts.system_currency
        used = _cents(row.get("used_cents"))
        overdue = _cents(row.get("overdue_cents"))
        extra: dict[str, Any] = {"payer_erp_id": str(row["payer_id"]), "receivables": format(used, "f")}
        if self.opts.include_reservations:
            reserved = _cents(row.get("reserved_cents"))
            used += reserved
            extra["reservations"] = format(reserved, "f")
            if row.get("reservations_unvalued"):
                extra["reservations_unvalued"] = int(row["reservations_unvalued"])
        if self.opts.include_documents_without_payments:
            unpaid = _cents(row.get("unpaid_documents_cents"))
            used += unpaid
            extra["documents_without_payments"] = format(unpaid, "f")

        currency = sys_cur
        credit_limit: Decimal | None = None
        overdue_limit: Decimal | None = None
        valid_from = valid_to = None
        if row["limit_flag"] == 0:  # Knt_LimitTerminowy = 0 on the payer: nieograniczony
            state = LimitState.UNLIMITED
        elif row["limit_id"] is None:
            # Ograniczony, but no KntLimityK row is valid today (expired, a gap, only future rows): the limit
            # lapsed. Not "no limit granted": the engine gives it no more credit than a limit of 0 by default.
            state = LimitState.LAPSED
            extra["lapsed"] = f"no KntLimityK row of {_text(row['payer_code'])} is valid on {self.local(as_of).date()}"
        else:
            state = LimitState.LIMITED
            extra["limit_id"] = int(row["limit_id"])
            if int(row["valid_limit_rows"] or 0) > 1:
                extra["overlapping_limits"] = int(row["valid_limit_rows"])
            valid_from, valid_to = from_xl_date(row["valid_from"]), from_xl_date(row["valid_to"])
            amount = Decimal(row["limit_amount"] or 0)
            allowed = Decimal(row["overdue_limit"] or 0)
            limit_cur = (row["limit_currency"] or "").strip().upper() or sys_cur
            if limit_cur != sys_cur:
                rate = _rate(row["rate_l"], row["rate_m"], limit_cur)
                extra["limit_original"] = f"{amount:f} {limit_cur}"
                if self.opts.limit_currency == "convert":
                    amount, allowed = round_money(amount * rate), round_money(allowed * rate)
                else:
                    currency = limit_cur
                    used, overdue = round_money(used / rate), round_money(overdue / rate)
            credit_limit = amount
            if self.opts.overdue_limit == "limit_row" or (self.opts.overdue_limit == "limit_row_nonzero" and allowed):
                overdue_limit = allowed
        if row["payer_id"] != row["erp_id"]:
            extra["payer_shared"] = True
        if row["declared_payer"] is not None and row["declared_payer"] != row["payer_ref"]:
            # This card pays for others: one payer level only, its own payer setting is not followed.
            extra["payer_not_followed"] = str(row["declared_payer"])
        name = " ".join(p for p in (_text(row["name1"]).strip(), _text(row["name2"]).strip()) if p)
        tax_id = (_text(row["nip_e"]).strip() or _text(row["nip"]).strip()) or None
        return {
            "tax_id": tax_id,
            "name": name,
            "is_business": row["status"] == 1,
            "limit_state": state,
            "credit_limit": credit_limit,
            "used": used,
            "overdue": overdue,
            "overdue_limit": overdue_limit,
            "currency": currency,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "control_mode": mode,
            "as_of": as_of,
            "payer_code": _text(row["payer_code"]),
            "extra": extra,
        }

    # --- doctor and config validate ------------------------------------------------------------------
    def expected_schema(self, dialect: str) -> list[ExpectedTable]:
        from . import schema as s

        tables = [s.KntKarty, s.KntLimityK, s.TraPlat]
        if self.opts.control_mode is None:
            tables.append(s.PicoKonfig)
        if self.opts.include_reservations:
            tables += [s.Rezerwacje, s.ZamNag, s.ZamElem]
        if self.opts.include_documents_without_payments:
            tables.append(s.TraNag)
        return expected_tables(tables, dialect, omit=() if self.billing else BILLING_COLUMN_NAMES)

    def check_references(self) -> list[CheckResult]:
        """The configured branch (``branch_id``, PcK_PicoID) exists in CDN.PicoKonfig."""
        if self.opts.control_mode is not None:
            return [CheckResult(name="xl.branch", status=CheckStatus.OK,
                                detail=f"fixed control_mode = {self.opts.control_mode.value}: no branch used")]
        try:
            with streaming(self.engine) as conn:
                branches = [r[0] for r in conn.execute(query.branches_query())]
        except Exception as exc:  # noqa: BLE001 - unreachable: a warning, the file itself is valid
            return [not_checked(f"branch_id {self.opts.branch_id}", exc)]
        if self.opts.branch_id not in branches:
            return [CheckResult(name="xl.branch", status=CheckStatus.FAIL,
                                detail=f"branch_id {self.opts.branch_id}: no such branch in CDN.PicoKonfig "
                                       f"(PcK_PicoID found: {', '.join(map(str, branches)) or 'none'})",
                                fix=f"set sources.{self.name}.branch_id to one of the PcK_PicoID values listed")]
        return [CheckResult(name="xl.branch", status=CheckStatus.OK, detail=f"branch {self.opts.branch_id} found")]

    # --- check ------------------------------------------------------------------------------------------
    def check(self, as_of: datetime) -> list[CheckResult]:
        results: list[CheckResult] = []
        try:
            with streaming(self.engine) as conn:
                conn.exec_driver_sql("SELECT 1").first()
                results.append(CheckResult(name="xl.connect", status=CheckStatus.OK, detail=self.engine.dialect.name))
                try:
                    mode, origin = self.control_mode(conn)
                    status = CheckStatus.OK if self.opts.control_mode is not None else CheckStatus.WARN
                    results.append(CheckResult(name="xl.control_mode", status=status, detail=f"{mode.value}: {origin}"))
                except ConfigError as exc:
                    results.append(CheckResult(name="xl.control_mode", status=CheckStatus.FAIL, detail=mask(exc)))
                if self.opts.used == "functions":
                    try:
                        found = self.function_arity(conn)
                        results.append(CheckResult(name="xl.functions", status=CheckStatus.OK, detail=str(found)))
                    except ConfigError as exc:
                        results.append(CheckResult(name="xl.functions", status=CheckStatus.FAIL, detail=mask(exc)))
        except Exception as exc:  # noqa: BLE001 - check reports, never raises
            results.append(_failed("xl.connect", exc))
            return results
        if self.billing:
            results.append(check_billing_columns(self.engine, "xl.billing_columns", "KntKarty", BILLING_COLUMN_NAMES))
        counts = {"records": 0, "rejected": 0, "limited": 0, "lapsed": 0, "unlimited": 0, "none": 0, "overlapping": 0}
        first_rejections: list[str] = []
        try:
            for item in self.read(as_of):
                if isinstance(item, BillingRecord) or getattr(item, "kind", CREDIT) != CREDIT:
                    continue  # billing data: counted by the pipeline check, not here
                if isinstance(item, RejectedRow):
                    counts["rejected"] += 1
                    if len(first_rejections) < 5:
                        first_rejections.append(f"{item.code or item.erp_id}: {item.reason}")
                    continue
                counts["records"] += 1
                counts[item.limit_state.value] += 1
                counts["overlapping"] += bool(item.extra.get("overlapping_limits"))
        except Exception as exc:  # noqa: BLE001
            results.append(_failed("xl.read", exc))
            return results
        detail = ", ".join(f"{k}={v}" for k, v in counts.items())
        results.append(CheckResult(name="xl.read", status=CheckStatus.OK, detail=detail))
        if counts["rejected"]:
            detail = " | ".join(first_rejections)
            results.append(CheckResult(name="xl.bad_data", status=CheckStatus.WARN, detail=detail))
        return results


def _failed(name: str, exc: BaseException) -> CheckResult:
    return CheckResult(name=name, status=CheckStatus.FAIL, detail=mask(f"{type(exc).__name__}: {exc}"))


class _BadRow(ValueError):
    pass


def _rate(rate_l: Any, rate_m: Any, currency: str) -> Decimal:
    left, right = Decimal(rate_l or 0), Decimal(rate_m or 0)
    if left <= 0 or right <= 0:
        raise _BadRow(f"limit in {currency} has no exchange rate (KLK_KursL = {left}, KLK_KursM = {right})")
    return left / right


def check_arity(found: Mapping[str, int], expected: Mapping[str, int]) -> None:
    """Raise a ``ConfigError`` naming every XL function whose parameter count differs from the config."""
    problems = []
    for name, want in expected.items():
        have = found.get(name)
        if have is None:
            problems.append(f"CDN.{name} does not exist (or the login cannot see it)")
        elif have != want:
            problems.append(
                f"CDN.{name} takes {have} parameters in this XL version, the config expects {want}; "
                f"set expected_function_arity.{name} = {have} only after checking the parameter order"
            )
    if problems:
        raise ConfigError("used = 'functions' cannot call XL's credit functions:", problems)


class _same:
    """Reuse an open connection in a ``with`` block without closing it."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> Any:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        return None


__all__ = ["XlSource", "check_arity"]
