"""tradecredit: trade credit (kredyt kupiecki) kept in step between Comarch ERP and online shops.

The public API for applications and plugin authors is re-exported here; everything else is private.
Nothing here loads plugins: the host is built lazily on first use.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .core.adapters import (
    AdapterContext,
    CheckResult,
    CheckStatus,
    ItemResult,
    ItemStatus,
    OutgoingItem,
    PluginOptions,
    Source,
    Target,
)
from .core.config import DatabaseUrl, Secret, load_config
from .core.engine import (
    CheckoutDecision,
    ModeMapping,
    Outcome,
    PaymentForm,
    Reason,
    StalePolicy,
    decide_checkout,
    degrade_mode,
    storefront_view,
)
from .core.errors import AuthError, ConfigError, DataError, LockHeldError, TradeCreditError, TransientError
from .core.hookspecs import hookimpl
from .core.records import ControlMode, CreditRecord, LimitState, RejectedRow, record_or_rejection

try:
    __version__ = version("tradecredit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "AdapterContext", "AuthError", "CheckResult", "CheckStatus", "CheckoutDecision", "ConfigError",
    "ControlMode", "CreditRecord", "DataError", "DatabaseUrl", "ExitCode", "ItemResult", "ItemStatus",
    "LimitState", "LockHeldError", "ModeMapping", "Outcome", "OutgoingItem", "PaymentForm", "PluginOptions",
    "Reason", "RejectedRow", "RunReport", "Secret", "Source", "StalePolicy", "Target", "TradeCreditError",
    "TransientError", "check_config", "decide_checkout", "degrade_mode", "exit_code_for", "hookimpl",
    "load_config", "record_or_rejection", "run_pipeline", "run_pipelines", "storefront_view",
]

# name → module under tradecredit.core, imported on first access.
_LAZY = {
    "run_pipeline": "sync", "run_pipelines": "sync", "check_config": "check",
    "RunReport": "report", "ExitCode": "report", "exit_code_for": "report",
}


def __getattr__(name: str) -> Any:
    # Lazy: importing tradecredit must not import the orchestrator's dependencies (SQLAlchemy, adapters).
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".core.{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
