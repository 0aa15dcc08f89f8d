"""The XL source's options (the ``[sources.NAME]`` table of the config, ``plugin = "xl"``)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from tradecredit.sdk import ControlMode, DatabaseUrl, PluginOptions, to_currency

# PcK_LimitKrObs codes are NOT confirmed on a real XL database (see docs/plugins/xl.md, open questions).
# The default assumes the order of the options in XL's UI: Zezwalaj, Ostrzegaj, Blokuj.
DEFAULT_MODE_CODES: dict[int, ControlMode] = {0: ControlMode.ALLOW, 1: ControlMode.WARN, 2: ControlMode.BLOCK}

# WZ (2001) is the XL type of a dispatch note in public code; other types without payments are configurable.
DEFAULT_DOCUMENT_TYPES_WITHOUT_PAYMENTS: tuple[int, ...] = (2001,)


class XlOptions(PluginOptions):
    url: DatabaseUrl = Field(description="SQLAlchemy URL of the XL company database (read-only login is enough)")
    system_currency: str = Field("PLN", description="XL's system currency; '' in currency columns means this")
    timezone: str = Field("Europe/Warsaw", description="zone in which XL's day numbers and timestamps are local")
    include_archived: bool = Field(False, description="also read archived cards (Knt_Archiwalny <> 0)")
    used: Literal["computed", "functions"] = Field(
        "computed", description="computed = portable SQL over TraPlat; functions = XL's own CDN functions (SQL Server)"
    )
    receivable_amount: Literal["converted", "sys_column"] = Field(
        "converted",
        description="converted = TrP_Pozostaje, foreign currency converted by TrP_KursL/TrP_KursM; "
        "sys_column = TrP_PozostajeSys as stored",
    )
    open_settlement_codes: list[int] = Field([0], description="TrP_Rozliczona values that count as open")
    receivable_document_types: list[int] | None = Field(
        None, description="TrP_GIDTyp values counted as receivables; None = every type"
    )
    overdue_tolerance_days: int = Field(0, ge=0, description="days after TrP_Termin before a payment is overdue")
    overdue_limit: Literal["limit_row", "limit_row_nonzero", "off"] = Field(
        "limit_row",
        description="limit_row = KLK_LimitPoTerminie (0 tolerates nothing); limit_row_nonzero = 0 means no rule; "
        "off = no overdue rule",
    )
    include_reservations: bool = Field(False, description="add the value of active open order reservations")
    include_documents_without_payments: bool = Field(
        False, description="add documents that create no payment (TrN_Platnosci = 0), e.g. WZ"
    )
    document_types_without_payments: list[int] = Field(list(DEFAULT_DOCUMENT_TYPES_WITHOUT_PAYMENTS))
    limit_currency: Literal["convert", "keep"] = Field(
        "convert",
        description="convert = limit converted to the system currency with KLK_KursL/KLK_KursM; "
        "keep = the record is in the limit's currency (used and overdue converted back with the same rate)",
    )
    control_mode: ControlMode | None = Field(None, description="fixed control mode; else read from PicoKonfig")
    branch_id: int | None = Field(None, description="PcK_PicoID of the branch whose PcK_LimitKrObs is the mode")
    mode_codes: dict[int, ControlMode] = Field(
        default_factory=lambda: dict(DEFAULT_MODE_CODES), description="PcK_LimitKrObs code → mode (UNCONFIRMED)"
    )
    functions_main_balance: bool = Field(
        False, description="used = functions: value of @p_UwzglSaldoKntGlownego (include the main card's balance)"
    )
    expected_function_arity: dict[str, int] = Field(
        default_factory=lambda: {
            "SumaWartosciKredytuKontrahenta": 7,
            "SumaWartosciKredytuTerminKontrahenta": 8,
        },
        description="parameter count per XL function; checked against sys.parameters before calling",
    )

    @field_validator("system_currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        return to_currency(v)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (on Windows install the 'tzdata' package for zone names)"
            ) from None
        return v

    @model_validator(mode="after")
    def _mode_source(self) -> XlOptions:
        if self.control_mode is None and self.branch_id is None:
            raise ValueError("set control_mode (allow/warn/block) or branch_id (PcK_PicoID to read PcK_LimitKrObs)")
        if self.control_mode is not None and self.branch_id is not None:
            raise ValueError("set either control_mode or branch_id, not both")
        return self
