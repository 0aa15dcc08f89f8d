"""notify plugin: alerts by webhook (Slack/Teams-compatible JSON) and e-mail (SMTP with STARTTLS).

Registered through the ``tradecredit`` entry-point group like every plugin, and built only on the lifecycle
hooks (``after_batch``, ``after_run``, ``on_error``) plus the ``[notify]`` config section it claims. See
docs/operations.md ("Alerts") for the events and their episodes.
"""

from __future__ import annotations

from typing import Any

from tradecredit.sdk import RegisterConfigSection, hookimpl

from . import alerts
from .options import NotifyOptions

__all__ = ["NotifyOptions"]


@hookimpl
def register_config_sections(register: RegisterConfigSection) -> None:
    register("notify", NotifyOptions)


@hookimpl
def after_batch(run: Any, batch: Any) -> None:
    alerts.on_batch(run, batch)


@hookimpl
def after_run(run: Any, report: Any) -> None:
    alerts.on_run(run, report)


@hookimpl
def on_error(run: Any, error: BaseException) -> None:
    alerts.on_failure(run, error)
