"""tradecredit: trade credit (kredyt kupiecki) kept in step between Comarch ERP and online shops.

The public API for applications and plugin authors is re-exported here; everything else is private.
Nothing here loads plugins: the host is built lazily on first use.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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
    "ControlMode", "CreditRecord", "DataError", "DatabaseUrl", "ItemResult", "ItemStatus", "LimitState",
    "LockHeldError", "ModeMapping", "Outcome", "OutgoingItem", "PaymentForm", "PluginOptions", "Reason",
    "RejectedRow", "Secret", "Source", "StalePolicy", "Target", "TradeCreditError", "TransientError",
    "decide_checkout", "degrade_mode", "hookimpl", "load_config", "record_or_rejection", "run_pipeline",
    "storefront_view",
]


def __getattr__(name: str):  # lazy: importing tradecredit must not import the orchestrator's dependencies
    if name == "run_pipeline":
        from .core.sync import run_pipeline

        return run_pipeline
    raise AttributeError(name)
