"""Typed errors, classified once (Airbyte CDK style).

* ``ConfigError``: the user must change something (bad config, wrong key, missing scope). Never retried.
* ``TransientError``: the remote side may recover (429, 5xx, timeouts, dropped connections). Retried by the
  shared HTTP layer with backoff; raised only once the retry budget is spent.
* ``DataError``: one record is bad. Reported per record; the run goes on.
* ``LockHeldError``: another run of the same pipeline is in progress.
* ``StateError``: the state store is corrupt or from a newer version: loud, never a silent reset.
* ``RunFailed``: a run stopped on something unexpected (a bug, a driver's own exception); the original
  exception is its ``__cause__``.

Every error ``run_pipeline`` raises carries the run's report as ``report``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import RunReport


class TradeCreditError(Exception):
    """Base of every error tradecredit raises on purpose."""

    report: RunReport | None = None
    """The report of the run this error stopped, when ``run_pipeline`` raised it (None otherwise)."""


class ConfigError(TradeCreditError):
    """The configuration (or credentials) must be fixed by the user. Never retried."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class AuthError(ConfigError):
    """The remote system refused our credentials (401) or their scope (403)."""


class TransientError(TradeCreditError):
    """A failure that may go away when retried; raised after the retry budget is spent."""


class DataError(TradeCreditError):
    """One input record is unusable; the run reports it and continues."""


class LockHeldError(TradeCreditError):
    """Another run of the same pipeline holds the run lock."""


class StateError(TradeCreditError):
    """The state store cannot be trusted (corrupt, or written by a newer tradecredit)."""


class PluginError(TradeCreditError):
    """A plugin failed to load or registered something invalid."""


class RunFailed(TradeCreditError):
    """A run stopped on an unexpected error; the original exception is ``__cause__``."""
