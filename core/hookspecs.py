"""The hooks a tradecredit plugin can implement. Every hook is documented in docs/hooks.md.

Registration hooks receive a ``register`` callback so the host can validate each adapter, reject duplicate
names and remember which distribution provided it. Lifecycle hooks are for notification and metrics
plugins; an exception in one is logged and never stops a run.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("tradecredit")
hookimpl = pluggy.HookimplMarker("tradecredit")


@hookspec
def register_sources(register: Any) -> None:
    """Register ERP source adapters: call ``register(name, SourceSubclass)`` once per adapter."""


@hookspec
def register_targets(register: Any) -> None:
    """Register shop target adapters: call ``register(name, TargetSubclass)`` once per adapter."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands or groups to the ``tradecredit`` CLI (``cli`` is the root click group)."""


@hookspec
def before_run(run: Any) -> None:
    """Called when a pipeline run starts, after the run lock is taken. ``run`` is a ``RunInfo``."""


@hookspec
def after_batch(run: Any, batch: Any) -> None:
    """Called after each batch the target answered, with the confirmed and failed keys (``BatchOutcome``)."""


@hookspec
def after_run(run: Any, report: Any) -> None:
    """Called when a run ends normally, with the final ``RunReport`` (also for dry runs)."""


@hookspec
def on_error(run: Any, error: BaseException) -> None:
    """Called when a run stops on an error (configuration, lock, transient after retries, system)."""


@hookspec
def register_config_sections(register: Any) -> None:
    """Claim a top-level config table: call ``register(section, OptionsModel)`` (a ``PluginOptions`` subclass).

    The table is validated with that model when the config loads (unknown keys are errors, named by path) and
    is available as ``config.sections[section]``; lifecycle hooks reach the config through ``run.config``.
    """
