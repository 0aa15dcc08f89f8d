"""``tradecredit.sdk``: the one import a plugin needs. Everything a plugin may rely on is named here.

Built-in plugins use nothing else from tradecredit (ruff's ``TID251`` enforces it for ``plugins/**`` and
``examples/**``); every other module (``tradecredit.core.*``) is private and may change in any release. The
names, by what they are for (docs/plugins/writing-plugins.md walks through them):

* hooks: ``hookimpl``; the ``register`` callbacks' types ``RegisterSource``, ``RegisterTarget``; what the
  lifecycle hooks receive: ``RunInfo``, ``BatchOutcome``, ``RunReport`` (with ``Counts``, ``Problem``,
  ``PlannedChange``).
* adapters: ``Source``, ``Target`` (generic over their options model: ``Source[MyOptions]``),
  ``PluginOptions``, ``AdapterContext``, ``KeyValueCache``, ``OutgoingItem``, ``ItemResult``, ``ItemStatus``,
  ``CheckResult``, ``CheckStatus``.
* records: ``CreditRecord``, ``RejectedRow``, ``record_or_rejection``, ``LimitState``, ``ControlMode``,
  ``normalise_code``, ``decimal_or_none``.
* money: ``Money``, ``Currency`` (pydantic field types), ``ZERO``, ``CENT``, ``to_money``, ``round_money``,
  ``MoneyError``, ``to_currency``, ``format_pln``.
* options and secrets: ``Secret``, ``DatabaseUrl``, ``TimeZoneName``, ``mask``, ``register_secret``.
* errors: ``TradeCreditError``, ``ConfigError``, ``AuthError``, ``TransientError``, ``DataError``,
  ``StateError``, ``LockHeldError``, ``PluginError``, ``RunFailed``.
* HTTP: ``HttpClient``, ``RetryPolicy`` (retries, backoff, ``Retry-After``, 401/403 → ``AuthError``).
* SQL sources: ``create_source_engine`` (read-only sessions), ``install_read_only_guard``, ``is_select``,
  ``streaming``, ``mssql_url``, ``undecodable`` (the columns of a row whose text is not UTF-8: reject the row).
* the engine (every business rule; a target never re-implements one): ``effective_credit`` (what a customer
  effectively gets, each value with its ``ValueReason``) → ``EffectiveCredit``, the ``[engine]`` policy
  (``CreditPolicy``, ``NoLimitPolicy``, ``LapsedPolicy``, ``DEFAULT_POLICY``), ``Unsupported`` (what a target
  cannot represent), gross order values (``order_totals``, ``OrderTotals``, ``gross_of``), ``ModeMapping``,
  ``degrade_mode``, ``mode_from_code``, ``available``, ``limit_breached``, ``overdue_breached``, ``decide_checkout``,
  ``CheckoutDecision``, ``Outcome``, ``Reason``, ``PaymentForm``, ``DEFERRED_FORMS``, ``is_deferred``,
  ``StalePolicy``, ``StaleFallback``, ``is_stale``, ``storefront_view``, ``StorefrontView``.
* composing plugins and commands: ``load_config``, ``run_pipeline``, ``before_text``, ``text_table``,
  ``exit_codes_for_errors``.
* plugins that keep their own state or config (the ``notify`` plugin): ``RegisterConfigSection`` (the
  ``register_config_sections`` callback), ``StateStore`` (``StateStore.open(run.config.state.url)``: its
  ``cache_get``/``cache_put``, ``history``, ``last_confirmed``), ``StopRequested`` (a run ended by a service
  stop, not a failure).
* the first hour (``tradecredit init`` / ``doctor``): ``ExpectedTable`` (what ``Source.expected_schema``
  returns), ``CheckResult.fix``, ``clock_skew`` (a shop's ``Date`` header against this machine),
  ``odbc_drivers`` (``pyodbc.drivers()``, None without pyodbc), ``check_config`` (every line of ``check``),
  ``TerminalProgress`` (a progress bar on stderr for long steps, ``progress(stage, done, total)``).
* the dev kit (sandboxes, needs ``pip install 'tradecredit[sandbox]'``): ``serve_in_thread``,
  ``serve_forever``, ``RunningServer``, ``free_port``, ``require_sandbox_extra`` (raises ``ConfigError``
  naming the install command), ``needs_sandbox_extra`` (the same for a click command: exit code 3).

Test fixtures, fakes and the conformance suites are in ``tradecredit.testing`` (opt-in pytest plugin).
"""

from __future__ import annotations

from .core.adapters import (
    AdapterContext,
    CheckResult,
    CheckStatus,
    ExpectedTable,
    ItemResult,
    ItemStatus,
    KeyValueCache,
    OutgoingItem,
    PluginOptions,
    Source,
    Target,
    Unsupported,
)
from .core.check import check_config
from .core.cli import exit_codes_for_errors
from .core.config import DatabaseUrl, Secret, TimeZoneName, load_config
from .core.dialects import odbc_drivers
from .core.doctor import clock_skew
from .core.engine import (
    DEFAULT_POLICY,
    DEFERRED_FORMS,
    CheckoutDecision,
    CreditPolicy,
    EffectiveCredit,
    LapsedPolicy,
    ModeMapping,
    NoLimitPolicy,
    OrderTotals,
    Outcome,
    PaymentForm,
    Reason,
    StaleFallback,
    StalePolicy,
    StorefrontView,
    ValueReason,
    available,
    decide_checkout,
    degrade_mode,
    effective_credit,
    gross_of,
    is_deferred,
    is_stale,
    limit_breached,
    mode_from_code,
    order_totals,
    overdue_breached,
    storefront_view,
)
from .core.errors import (
    AuthError,
    ConfigError,
    DataError,
    LockHeldError,
    PluginError,
    RunFailed,
    StateError,
    TradeCreditError,
    TransientError,
)
from .core.hookspecs import RegisterConfigSection, RegisterSource, RegisterTarget, hookimpl
from .core.http import HttpClient, RetryPolicy
from .core.lease import StopRequested
from .core.money import CENT, ZERO, Currency, Money, MoneyError, format_pln, round_money, to_currency, to_money
from .core.progress import TerminalProgress
from .core.records import (
    ControlMode,
    CreditRecord,
    LimitState,
    RejectedRow,
    decimal_or_none,
    normalise_code,
    record_or_rejection,
)
from .core.report import Counts, PlannedChange, Problem, RunReport, before_text, text_table
from .core.secrets import mask, register_secret
from .core.serving import (
    RunningServer,
    free_port,
    needs_sandbox_extra,
    require_sandbox_extra,
    serve_forever,
    serve_in_thread,
)
from .core.sql import create_source_engine, install_read_only_guard, is_select, mssql_url, streaming, undecodable
from .core.state import StateStore
from .core.sync import BatchOutcome, RunInfo, run_pipeline

__all__ = [
    "CENT",
    "DEFAULT_POLICY",
    "DEFERRED_FORMS",
    "ZERO",
    "AdapterContext",
    "AuthError",
    "BatchOutcome",
    "CheckResult",
    "CheckStatus",
    "CheckoutDecision",
    "ConfigError",
    "ControlMode",
    "Counts",
    "CreditPolicy",
    "CreditRecord",
    "Currency",
    "DataError",
    "DatabaseUrl",
    "EffectiveCredit",
    "ExpectedTable",
    "HttpClient",
    "ItemResult",
    "ItemStatus",
    "KeyValueCache",
    "LapsedPolicy",
    "LimitState",
    "LockHeldError",
    "ModeMapping",
    "Money",
    "MoneyError",
    "NoLimitPolicy",
    "OrderTotals",
    "Outcome",
    "OutgoingItem",
    "PaymentForm",
    "PlannedChange",
    "PluginError",
    "PluginOptions",
    "Problem",
    "Reason",
    "RegisterConfigSection",
    "RegisterSource",
    "RegisterTarget",
    "RejectedRow",
    "RetryPolicy",
    "RunFailed",
    "RunInfo",
    "RunReport",
    "RunningServer",
    "Secret",
    "Source",
    "StaleFallback",
    "StalePolicy",
    "StateError",
    "StateStore",
    "StopRequested",
    "StorefrontView",
    "Target",
    "TerminalProgress",
    "TimeZoneName",
    "TradeCreditError",
    "TransientError",
    "Unsupported",
    "ValueReason",
    "available",
    "before_text",
    "check_config",
    "clock_skew",
    "create_source_engine",
    "decide_checkout",
    "decimal_or_none",
    "degrade_mode",
    "effective_credit",
    "exit_codes_for_errors",
    "format_pln",
    "free_port",
    "gross_of",
    "hookimpl",
    "install_read_only_guard",
    "is_deferred",
    "is_select",
    "is_stale",
    "limit_breached",
    "load_config",
    "mask",
    "mode_from_code",
    "mssql_url",
    "needs_sandbox_extra",
    "normalise_code",
    "odbc_drivers",
    "order_totals",
    "overdue_breached",
    "record_or_rejection",
    "register_secret",
    "require_sandbox_extra",
    "round_money",
    "run_pipeline",
    "serve_forever",
    "serve_in_thread",
    "storefront_view",
    "streaming",
    "text_table",
    "to_currency",
    "to_money",
    "undecodable",
]
