"""Helpers for the eshop plugin tests (``from .helpers import …``); the fixtures are in conftest.py."""

from __future__ import annotations

from pathlib import Path

from tradecredit.core.adapters import AdapterContext, ItemResult, OutgoingItem
from tradecredit.core.engine import CreditPolicy, degrade_mode
from tradecredit.core.http import RetryPolicy
from tradecredit.core.records import CreditRecord
from tradecredit.plugins.eshop import EshopTarget

API_KEY = "test-key-7f3a9c"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05, total_timeout=5)


def make_target(url: str, api_key: str = API_KEY, policy: CreditPolicy | None = None) -> EshopTarget:
    """The eshop target; ``policy`` is the config's ``[engine]`` (what the host hands every target)."""
    options = EshopTarget.Options.model_validate(
        {"base_url": url, "api_key": api_key, "retry": FAST_RETRY.model_dump()}
    )
    return EshopTarget(options, AdapterContext(instance_name="store", policy=policy or CreditPolicy()))


def write_records(target: EshopTarget, *records: CreditRecord) -> list[ItemResult]:
    """Write records through the real target in one batch, as the orchestrator would."""
    items = []
    for record in records:
        mode = degrade_mode(record.control_mode, target.native_modes)
        items.append(OutgoingItem(key=record.key, code=record.code, payload=target.payload(record, {}, mode),
                                  record=record, mode=mode))
    return target.write(items)
