"""``OptimaSource``: customers' trade credit read from a Comarch ERP Optima company database.

One set-based SELECT per run, streamed; every bad card becomes a ``RejectedRow`` with its reason and the
run goes on. See docs/plugins/optima.md for the options, the field mapping and the open questions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
from sqlalchemy import Engine
from tradecredit.plugins.comarch import (
    OPTIMA_MODE_LABELS,
    check_billing_columns,
    expected_tables,
    not_checked,
    schema_map,
    streaming,
)
from tradecredit.sdk import (
    BILLING,
    CREDIT,
    ZERO,
    AdapterContext,
    BillingRecord,
    CheckResult,
    CheckStatus,
    ConfigError,
    ControlMode,
    CreditRecord,
    Currency,
    DatabaseUrl,
    ExpectedTable,
    LimitState,
    MoneyError,
    PluginOptions,
    RejectedRow,
    Secret,
    Source,
    TimeZoneName,
    billing_or_rejection,
    create_source_engine,
    install_read_only_guard,
    mask,
    mode_from_code,
    mssql_url,
    normalise_code,
    record_or_rejection,
    to_money,
    undecodable,
)

from .query import (
    ReadQuery,
    codes_statement,
    counts_statement,
    overdue_documents_statement,
    read_statement,
    workstations_statement,
)
from .schema import BILLING_COLUMN_NAMES, TABLES

log = logging.getLogger(__name__)

# ESS_KontrolaLimituPlat → mode. UNCONFIRMED: the order of the UI options (brak / ostrzeżenie / blokada)
# is assumed; verify on a real database (set each option in Optima, read the column back).
DEFAULT_MODE_CODES: dict[int, ControlMode] = {0: ControlMode.ALLOW, 1: ControlMode.WARN, 2: ControlMode.BLOCK}


def parse_mode(value: Any) -> Any:
    """Accept canonical modes (allow/warn/block) and Optima's labels (brak/ostrzeżenie/blokada)."""
    if isinstance(value, str):
        text = value.strip().casefold()
        for label, mode in OPTIMA_MODE_LABELS.items():
            if label.casefold() == text:
                return mode
        return text
    return value


class UsedBasis(StrEnum):
    STORED = "stored"  # Knt_LimitKredytuWykorzystany as shown on the card
    COMPUTED = "computed"  # recomputed from open receivables in CDN.BnkZdarzenia


class ZeroLimit(StrEnum):
    LIMITED = "limited"  # a real limit of 0: a credit controller's "no deferred credit" (default)
    REJECT = "reject"  # flag on with amount 0 is bad data (the shop keeps what it held; the report says what)


class SqlServer(PluginOptions):
    """Connection parts for SQL Server, as an alternative to a full ``url``."""

    server: str = Field(description=r"host, host,port or host\instance")
    database: str
    username: str | None = None
    password: Secret | None = None
    trusted: bool = Field(False, description="Windows authentication (Trusted_Connection)")
    driver: Literal[17, 18] = 18
    encrypt: bool = True
    trust_server_certificate: bool = False

    def url(self) -> str:
        return mssql_url(
            self.server, self.database, username=self.username,
            password=self.password.get_secret_value() if self.password else None, trusted=self.trusted,
            driver=f"ODBC Driver {self.driver} for SQL Server", encrypt=self.encrypt,
            trust_server_certificate=self.trust_server_certificate,
        )


class OptimaOptions(PluginOptions):
    url: DatabaseUrl | None = Field(None, description="SQLAlchemy URL of the Optima company database")
    sqlserver: SqlServer | None = Field(None, description="SQL Server connection parts instead of url")
    used: UsedBasis = Field(UsedBasis.STORED, description="where 'Limit wykorzystany' comes from")
    net_payables: bool = Field(False, description="computed used: subtract open payables (Comarch 'saldo')")
    system_currency: Currency = Field("PLN", description="the currency that '' stands for")
    include_inactive: bool = Field(False, description="also read cards with Knt_Nieaktywny = 1")
    skip_private: bool = Field(False, description="read only business entities (Knt_Finalny = 0)")
    zero_limit: ZeroLimit = Field(ZeroLimit.LIMITED, description="Knt_LimitFlag = 1 with amount 0: a limit of 0 "
                                                                 "(default) or bad data (reject)")
    workstation: int | str | None = Field(
        None, description="e-Sklep workstation: ESS_ESSId (int) or ESS_Nazwa; default: the database's only one"
    )
    control_mode: ControlMode | None = Field(None, description="fixed mode instead of the workstation setting")
    only_assigned_to_workstation: bool = Field(
        False, description="read only cards assigned to the workstation in CDN.KntESklepy"
    )
    mode_codes: dict[int, ControlMode] = Field(
        default_factory=lambda: dict(DEFAULT_MODE_CODES), description="ESS_KontrolaLimituPlat code → mode"
    )
    timezone: TimeZoneName = Field("Europe/Warsaw", description="time zone of the ERP's dates (for 'overdue')")

    @field_validator("control_mode", mode="before")
    @classmethod
    def _parse_mode(cls, value: Any) -> Any:
        return parse_mode(value)

    @field_validator("mode_codes", mode="before")
    @classmethod
    def _parse_codes(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: parse_mode(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _one_of(self) -> OptimaOptions:
        if (self.url is None) == (self.sqlserver is None):
            raise ValueError("give exactly one of 'url' and 'sqlserver'")
        if self.workstation is not None and self.control_mode is not None:
            raise ValueError("give either 'workstation' or 'control_mode', not both")
        if self.only_assigned_to_workstation and self.control_mode is not None:
            raise ValueError("'only_assigned_to_workstation' needs the e-Sklep workstation: give 'workstation' (or "
                             "leave it out to use the database's only one) instead of a fixed 'control_mode'")
        return self

    def database_url(self) -> str:
        if self.url is not None:
            return self.url
        assert self.sqlserver is not None  # the model validator requires exactly one of them
        return self.sqlserver.url()


def _money(value: Any) -> Decimal | None:
    """Database amounts → Decimal. Text (SQLite) and Decimal pass exactly; floats are refused upstream."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return value  # type: ignore[return-value]  # the record's Money validator rejects it with a reason
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return value  # not a number: rejected with a reason by the record validator


# Card amounts checked for sub-cent values even when the record does not use them (e.g. the stored used
# value with used = "computed"): such a card is damaged, and check would compare a wrong number.
_CARD_AMOUNTS = {
    "limit_amount": "Knt_LimitKredytu",
    "overdue_limit_amount": "Knt_LimitPrzeterKredytWartosc",
    "stored_used": "Knt_LimitKredytuWykorzystany",
}

_REQUIRED = {
    "Knt_Kod": "card code",
    "Knt_LimitFlag": "'Limit kredytu' flag",
    "limit_amount": "'Limit kredytu' amount",
    "Knt_LimitPrzeterKredytFlag": "'Limit przeterminowanych płatności' flag",
    "overdue_limit_amount": "'Limit przeterminowanych płatności' amount",
    "Knt_LimitKredytuWal": "limit currency",
    "stored_used": "stored 'Limit wykorzystany'",
    "Knt_Finalny": "business/private flag",
}


class OptimaSource(Source[OptimaOptions]):
    """Comarch ERP Optima: limits from CDN.Kontrahenci, debt and overdue from CDN.BnkZdarzenia."""

    description = "Comarch ERP Optima (SQL Server; SQLite/PostgreSQL copies for tests and demos)"
    kinds = frozenset({CREDIT, BILLING})

    def __init__(self, options: OptimaOptions, context: AdapterContext) -> None:
        super().__init__(options, context)
        self._engine: Engine | None = None
        self.statements: list[str] = []  # every statement issued, recorded by the read-only guard

    # --- plumbing ---------------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_source_engine(self.options.database_url())
            self.statements = install_read_only_guard(self._engine)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def query(self) -> ReadQuery:
        return ReadQuery(
            system_currency=self.options.system_currency,
            include_inactive=self.options.include_inactive,
            fixed_mode=self.options.control_mode is not None,
            workstation=self.options.workstation,
            only_assigned=self.options.only_assigned_to_workstation,
            sqlite=self.engine.dialect.name == "sqlite",
            billing=self.billing,
        )

    @property
    def billing(self) -> bool:
        """The pipeline syncs billing data: the read selects the billing columns too."""
        return BILLING in self.context.sync

    def day_start(self, as_of: datetime) -> datetime:
        """Midnight of the as-of date in the ERP's time zone (naive, like Optima's datetime columns)."""
        local = as_of.astimezone(ZoneInfo(self.options.timezone)) if as_of.tzinfo else as_of
        return datetime.combine(local.date(), time())

    def _rows(self, as_of: datetime) -> Iterator[Any]:
        return self._stream(read_statement(self.query(), self.day_start(as_of)))

    def _stream(self, stmt: Any) -> Iterator[Any]:
        try:
            with streaming(self.engine) as conn:
                yield from conn.execute(stmt)
        except ConfigError:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("tradecredit"):
                raise
            where = mask(self.engine.url)
            raise ConfigError(f"Optima source {self.name!r}: cannot read {where}: {mask(exc)}") from None

    # --- reading ----------------------------------------------------------------------------------------
    def read(self, as_of: datetime) -> Iterator[CreditRecord | BillingRecord | RejectedRow]:
        mode: ControlMode | None = self.options.control_mode
        billing = self.billing
        for row in self._rows(as_of):
            if mode is None:
                mode = self._mode_from_row(row)
            result = self.build(row, mode, as_of)
            if result is not None:
                yield result
            if billing and isinstance(result, CreditRecord):
                yield self.build_billing(row, result.code)
        if mode is None:
            # No card came back (an empty database, or no card assigned to the workstation): the workstation
            # setting was never seen, so check it on its own; a wrong one must not pass as "no customers".
            self._mode_of(self._pick_workstation(self._workstations()))

    def read_codes(self, codes: Sequence[str], as_of: datetime) -> Iterator[CreditRecord | RejectedRow]:
        """Only these customers: the run's statement filtered by ``Knt_Kod`` (``tradecredit explain``)."""
        mode: ControlMode | None = self.options.control_mode
        wanted = {normalise_code(c) for c in codes}
        for row in self._stream(read_statement(self.query(), self.day_start(as_of), codes)):
            if mode is None:
                mode = self._mode_from_row(row)
            result = self.build(row, mode, as_of)
            if result is not None and result.code is not None and normalise_code(result.code) in wanted:
                yield result

    def describe(self, record: CreditRecord) -> dict[str, str]:
        """The CDN columns behind the values (``tradecredit explain``): only names and values, no prose."""
        x = record.extra
        limit = (f"Knt_LimitFlag = 1; Knt_LimitKredytu = {record.credit_limit}; "
                 f"Knt_LimitKredytuWal = {record.currency}" if record.limit_state is LimitState.LIMITED
                 else "Knt_LimitFlag = 0")
        stored = f"Knt_LimitKredytuWykorzystany = {x.get('stored_used')}"
        computed = f"Σ CDN.BnkZdarzenia ({x.get('open_payments', 0)}) = {x.get('computed_used')}"
        used = " | ".join([stored, computed] if x.get("used_basis") == UsedBasis.STORED.value else [computed, stored])
        day = self.day_start(record.as_of).date().isoformat()
        mode = (f"control_mode = {self.options.control_mode.value}" if self.options.control_mode is not None
                else "CDN.eSklepStanowiska.ESS_KontrolaLimituPlat"
                     + (f" [workstation = {self.options.workstation}]" if self.options.workstation is not None else "")
                     + f" → {record.control_mode.value}")
        overdue = f"Σ CDN.BnkZdarzenia BZd_Termin < {day} = {record.overdue}"
        if record.overdue > 0:
            documents = self._stream(overdue_documents_statement(self.query(), int(record.erp_id),
                                                                 self.day_start(record.as_of)))
            overdue += ": " + "; ".join(
                f"{d.BZd_NumerPelny} ({d.BZd_Termin:%Y-%m-%d}) {to_money(d.open_sys, strict=False)}" for d in documents)
        return {
            "limit": limit, "used": f"{used} [used = {x.get('used_basis')}]",
            "overdue": overdue,
            "overdue_limit": (f"Knt_LimitPrzeterKredytFlag = 1; Knt_LimitPrzeterKredytWartosc = {record.overdue_limit}"
                              if record.overdue_limit is not None else "Knt_LimitPrzeterKredytFlag = 0"),
            "mode": mode,
        }

    def keys(self, as_of: datetime) -> Iterator[str]:
        """Every card code the read may return (one ``SELECT`` of the codes): the orchestrator's duplicate index."""
        return (code for (code,) in self._stream(codes_statement(self.query())) if isinstance(code, str))

    def _mode_from_row(self, row: Any) -> ControlMode:
        """The mode from the workstation columns of the read; anything but one match is resolved on the list."""
        if row.ess_count == 1:
            return self._mode_of(row.ess_code)
        return self._mode_of(self._pick_workstation(self._workstations()))

    def _workstations(self) -> list[Any]:
        return list(self._stream(workstations_statement()))

    def _pick_workstation(self, stations: Sequence[Any]) -> int:
        """The ``ESS_KontrolaLimituPlat`` code of the configured workstation, or of the database's only one.

        Raises ``ConfigError`` listing the workstations found (id, name) and how to choose one.
        """
        ws = self.options.workstation
        found = ", ".join(f"{s.ESS_ESSId} {s.ESS_Nazwa!r}" + (" (inactive)" if s.ESS_Nieaktywny else "")
                          for s in stations) or "none"
        how = ("choose one with 'workstation' = its ESS_ESSId (integer) or ESS_Nazwa (string), "
               "or set a fixed 'control_mode'")
        if ws is None:
            if len(stations) != 1:
                raise ConfigError(
                    f"Optima source {self.name!r}: no 'workstation' configured and CDN.eSklepStanowiska has "
                    f"{len(stations)} e-Sklep workstations (the default needs exactly one); workstations found "
                    f"(ESS_ESSId 'ESS_Nazwa'): {found}; {how}"
                )
            return stations[0].ESS_KontrolaLimituPlat
        match = [s for s in stations if (s.ESS_ESSId if isinstance(ws, int) else s.ESS_Nazwa) == ws]
        if not match:
            raise ConfigError(f"Optima source {self.name!r}: no e-Sklep workstation {ws!r} in CDN.eSklepStanowiska; "
                              f"workstations found (ESS_ESSId 'ESS_Nazwa'): {found}; {how}")
        codes = {s.ESS_KontrolaLimituPlat for s in match}
        if len(codes) > 1:
            raise ConfigError(f"Optima source {self.name!r}: {len(match)} workstations named {ws!r} disagree on "
                              f"ESS_KontrolaLimituPlat ({sorted(codes)}); set 'workstation' to an ESS_ESSId")
        return match[0].ESS_KontrolaLimituPlat

    def _mode_of(self, code: Any) -> ControlMode:
        try:
            return mode_from_code(code, self.options.mode_codes)
        except ValueError as exc:
            ws = self.options.workstation
            which = f"workstation {ws!r}" if ws is not None else "the only workstation"
            raise ConfigError(
                f"Optima source {self.name!r}: ESS_KontrolaLimituPlat of {which}: {exc}; add the code to 'mode_codes'"
            ) from None

    def build(self, row: Any, mode: ControlMode, as_of: datetime) -> CreditRecord | RejectedRow | None:
        """One contractor row → a record, a rejection, or None (skipped by the options)."""
        m = row._mapping
        erp_id, raw_code = row.Knt_KntId, row.Knt_Kod
        bad_text = undecodable(m)
        if bad_text:
            # one card with bytes the ERP's encoding cannot hold is bad data, not a reason to stop the read
            shown = raw_code.encode("utf-8", "surrogateescape").decode("utf-8", "replace") \
                if isinstance(raw_code, str) else None
            return RejectedRow(source=self.name, erp_id=str(erp_id), code=shown, reason="; ".join(bad_text))
        code = raw_code.strip() if isinstance(raw_code, str) else raw_code
        problems = [f"{_CARD_AMOUNTS.get(key, key)} is NULL ({what}; Optima stores a default there)"
                    for key, what in _REQUIRED.items() if m[key] is None]
        if row.Knt_PodmiotTyp is None:
            problems.append("Knt_PodmiotTyp is NULL (Optima's default is 1 = Kontrahent)")
        if row.Knt_Nieaktywny is None:
            problems.append("Knt_Nieaktywny is NULL (Optima's default is 0 = active)")
        if row.bad_rows:
            problems.append(f"{row.bad_rows} open payment(s) in CDN.BnkZdarzenia have NULL amounts, dates or status")
        if row.unknown_subject_rows:
            problems.append(f"{row.unknown_subject_rows} open payment(s) in CDN.BnkZdarzenia with BZd_PodmiotID = "
                            f"{erp_id} have a NULL BZd_PodmiotTyp (this customer's or another subject's?)")
        if row.sub_cent_rows:
            problems.append(f"{row.sub_cent_rows} open payment(s) in CDN.BnkZdarzenia have amounts with more than "
                            "two decimal places")
        card: dict[str, Any] = {}  # converted once: the checked amount is the one the record gets
        for column, name in _CARD_AMOUNTS.items():
            value = m[column]
            if value is not None:
                try:
                    money = to_money(str(value))
                except MoneyError as exc:
                    problems.append(f"{name}: {exc}")
                    continue
                # a float stays a float: the record's Money validator rejects it with its reason
                card[column] = value if isinstance(value, float) else money
        for flag in ("Knt_LimitFlag", "Knt_LimitPrzeterKredytFlag", "Knt_Finalny"):
            if m[flag] not in (None, 0, 1):
                problems.append(f"{flag} = {m[flag]} is neither 0 nor 1")
        if problems:
            return RejectedRow(source=self.name, erp_id=str(erp_id), code=code, reason="; ".join(problems))
        if self.options.skip_private and row.Knt_Finalny != 0:
            return None

        limit = card["limit_amount"]
        currency_raw = row.Knt_LimitKredytuWal.strip().upper()
        currency = currency_raw or self.options.system_currency
        in_system = currency == self.options.system_currency
        if row.Knt_LimitFlag == 1:
            state = LimitState.LIMITED
            if limit == 0 and self.options.zero_limit is ZeroLimit.REJECT:
                return self._reject(row, code, "Knt_LimitFlag = 1 with Knt_LimitKredytu = 0 (rejected by "
                                    "zero_limit = \"reject\"; the default \"limited\" sends it as a limit of 0)")
        else:
            state, limit = LimitState.NONE, None
        if not in_system and row.other_currency_rows:
            return self._reject(row, code, f"the limit is in {currency} but {row.other_currency_rows} open "
                                "payment(s) are in another currency; amounts in different currencies are never added")
        suffix = "sys" if in_system else "cur"
        recv, net, overdue_amount = (self._sum(m[f"{name}_{suffix}"]) for name in ("recv", "net", "overdue"))
        computed = net if self.options.net_payables else recv
        stored = card["stored_used"]
        used = stored if self.options.used is UsedBasis.STORED else computed
        return record_or_rejection(
            self.name, erp_id, code,
            tax_id=(row.Knt_Nip or "").strip() or None,
            name=" ".join(p.strip() for p in (row.Knt_Nazwa1 or "", row.Knt_Nazwa2 or "") if p.strip()),
            is_business=row.Knt_Finalny == 0,
            limit_state=state,
            credit_limit=limit,
            used=used,
            overdue=overdue_amount,
            overdue_limit=card["overdue_limit_amount"] if row.Knt_LimitPrzeterKredytFlag == 1 else None,
            currency=currency,
            control_mode=mode,
            as_of=as_of,
            extra=self._extra(row, raw_code, code, stored, computed),
        )

    def build_billing(self, row: Any, code: str) -> BillingRecord | RejectedRow:
        """The card's billing columns (comarch README §4b; docs/billing.md has the mapping)."""
        def text(name: str) -> str | None:
            value = getattr(row, name)
            return value if value is None or isinstance(value, str) else str(value)

        term = row.Knt_Termin
        return billing_or_rejection(
            self.name, row.Knt_KntId, code, countries=self.context.countries, country=text("Knt_Kraj"),
            name_lines=(text("Knt_Nazwa1"), text("Knt_Nazwa2"), text("Knt_Nazwa3")),
            nip_country=text("Knt_NipKraj"), nip=text("Knt_Nip") or text("Knt_NipE"),
            street=text("Knt_Ulica"), house=text("Knt_NrDomu"), flat=text("Knt_NrLokalu"),
            postal_code=text("Knt_KodPocztowy"), city=text("Knt_Miasto") or text("Knt_Poczta"),
            region=text("Knt_Wojewodztwo"), phone=text("Knt_Telefon1") or text("Knt_Telefon2"),
            email=text("Knt_Email"), payment_days=int(term) if term is not None else None,
        )

    def _sum(self, value: Any) -> Decimal:
        """A payment sum: integer grosze on SQLite, an exact Decimal elsewhere; no payments = 0.00."""
        if value is None:
            return ZERO
        if self.engine.dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-2)
        return _money(value)  # type: ignore[return-value]  # not None here: a Decimal (or what the record rejects)

    def _extra(self, row: Any, raw_code: str, code: str, stored: Any, computed: Any) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "used_basis": self.options.used.value,
            "stored_used": str(stored),
            "computed_used": str(computed),
            "open_payments": int(row.open_rows or 0),
        }
        if raw_code != code:
            extra["raw_code"] = raw_code
        if (row.Knt_NipKraj or "").strip():
            extra["nip_country"] = row.Knt_NipKraj.strip()
        return extra

    def _reject(self, row: Any, code: Any, reason: str) -> RejectedRow:
        return RejectedRow(source=self.name, erp_id=str(row.Knt_KntId), code=code, reason=reason)

    # --- doctor and config validate ------------------------------------------------------------------
    def database_url(self) -> str:
        return self.options.database_url()

    def expected_schema(self, dialect: str) -> list[ExpectedTable]:
        t = TABLES
        return expected_tables((t.kontrahenci, t.zdarzenia, t.stanowiska, t.sklepy), dialect,
                               omit=() if self.billing else BILLING_COLUMN_NAMES)

    def check_references(self) -> list[CheckResult]:
        """The configured e-Sklep workstation (or the database's only one) exists in CDN.eSklepStanowiska."""
        if self.options.control_mode is not None:
            return [CheckResult(name="optima.workstation", status=CheckStatus.OK,
                                detail=f"fixed control_mode = {self.options.control_mode.value}: no workstation used")]
        try:
            stations = self._workstations()
        except Exception as exc:  # noqa: BLE001 - unreachable: a warning, the file itself is valid
            return [not_checked(f"workstation {self.options.workstation!r}", exc)]
        try:
            self._mode_of(self._pick_workstation(stations))
        except ConfigError as exc:
            return [CheckResult(name="optima.workstation", status=CheckStatus.FAIL, detail=mask(exc),
                                fix=f"set sources.{self.name}.workstation to one of the workstations listed")]
        ws = self.options.workstation
        found = f"workstation {ws!r} found" if ws is not None else "the database's only workstation"
        return [CheckResult(name="optima.workstation", status=CheckStatus.OK, detail=found)]

    # --- check ------------------------------------------------------------------------------------------
    def check(self, as_of: datetime) -> list[CheckResult]:
        results: list[CheckResult] = []
        where = mask(self.engine.url)
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(schema_translate_map=schema_map(self.engine))
                counts = conn.execute(counts_statement()).one()
                stations = conn.execute(workstations_statement()).all()
        except Exception as exc:  # noqa: BLE001 - reported as a failed check, masked
            return [CheckResult(name="optima.connect", status=CheckStatus.FAIL, detail=f"{where}: {mask(exc)}")]
        results.append(CheckResult(name="optima.connect", status=CheckStatus.OK, detail=f"connected to {where}"))
        results.append(CheckResult(
            name="optima.counts", status=CheckStatus.OK if counts.cards else CheckStatus.WARN,
            detail=(f"{counts.cards} contractor cards, {counts.active or 0} active, {counts.business or 0} business, "
                    f"{counts.with_limit or 0} with a credit limit, {counts.with_overdue_limit or 0} with an "
                    "overdue-payments limit"),
        ))
        results.append(self._check_mode(stations))
        if self.billing:
            results.append(check_billing_columns(self.engine, "optima.billing_columns", "Kontrahenci",
                                                 BILLING_COLUMN_NAMES))
        if any(r.status is CheckStatus.FAIL for r in results):
            return results
        results.extend(self._check_used(as_of))
        return results

    def _check_mode(self, stations: Sequence[Any]) -> CheckResult:
        found = ", ".join(f"{s.ESS_ESSId} {s.ESS_Nazwa!r} code={s.ESS_KontrolaLimituPlat}" for s in stations)
        found = found or "none"
        if self.options.control_mode is not None:
            return CheckResult(name="optima.control_mode", status=CheckStatus.OK,
                               detail=f"fixed control_mode = {self.options.control_mode.value}; workstations: {found}")
        try:
            code = self._pick_workstation(stations)
            mode = self._mode_of(code)
        except ConfigError as exc:
            return CheckResult(name="optima.control_mode", status=CheckStatus.FAIL, detail=str(exc))
        ws = self.options.workstation
        which = f"workstation {ws!r}" if ws is not None else f"the only workstation ({found})"
        custom = self.options.mode_codes != DEFAULT_MODE_CODES
        return CheckResult(
            name="optima.control_mode", status=CheckStatus.OK if custom else CheckStatus.WARN,
            detail=(f"{which}: ESS_KontrolaLimituPlat = {code} → {mode.value}"
                    + ("" if custom else " (default code table, UNCONFIRMED: verify the codes and set mode_codes)")),
        )

    def _check_used(self, as_of: datetime) -> list[CheckResult]:
        """Stored vs computed 'Limit wykorzystany' over every record the read would produce."""
        differ, total, largest, largest_code, compared, rejected = 0, ZERO, ZERO, None, 0, 0
        mode = self.options.control_mode or ControlMode.BLOCK
        try:
            for row in self._rows(as_of):
                result = self.build(row, mode, as_of)
                if isinstance(result, RejectedRow):
                    rejected += 1
                if not isinstance(result, CreditRecord):
                    continue
                compared += 1
                stored, computed = Decimal(result.extra["stored_used"]), Decimal(result.extra["computed_used"])
                diff = abs(stored - computed)
                if diff:
                    differ += 1
                    total += diff
                    if diff > largest:
                        largest, largest_code = diff, result.code
        except Exception as exc:  # noqa: BLE001
            return [CheckResult(name="optima.used", status=CheckStatus.FAIL, detail=mask(exc))]
        basis = "open receivables minus payables" if self.options.net_payables else "open receivables"
        detail = (f"stored Knt_LimitKredytuWykorzystany vs computed ({basis}): {differ} of {compared} customers "
                  f"differ, total difference {total}, largest {largest}"
                  + (f" ({largest_code})" if largest_code else "") + f"; using '{self.options.used.value}'")
        return [
            CheckResult(name="optima.used", status=CheckStatus.WARN if differ else CheckStatus.OK, detail=detail),
            CheckResult(name="optima.rejected", status=CheckStatus.WARN if rejected else CheckStatus.OK,
                        detail=f"{rejected} card(s) would be rejected as bad data"),
        ]
