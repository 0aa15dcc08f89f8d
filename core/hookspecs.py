"""The hooks a tradecredit plugin can implement. Every hook is documented in docs/hooks.md.

Registration hooks receive a ``register`` callback so the host can validate each adapter, reject duplicate
names and remember which distribution provided it. Lifecycle hooks are for notification and metrics
plugins; the host calls them through pluggy (so ``tryfirst``, ``trylast`` and ``wrapper=True`` work as pluggy
documents them), and an exception in one implementation is logged and never stops a run or the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:  # annotations only: the orchestrator imports this module
    import click

    from .adapters import PluginOptions, Source, Target
    from .report import RunReport
    from .sync import BatchOutcome, RunInfo

hookspec = pluggy.HookspecMarker("tradecredit")
hookimpl = pluggy.HookimplMarker("tradecredit")

LIFECYCLE_HOOKS = frozenset({"register_commands", "before_run", "after_batch", "after_run", "on_error"})
"""Hooks called through pluggy with each implementation's failure isolated (see ``PluginHost``)."""


class RegisterSource(Protocol):
    """The ``register`` callback of ``register_sources``: ``register("myerp", MyErpSource)``."""

    def __call__(self, name: str, cls: type[Source[Any]], /) -> None: ...


class RegisterConfigSection(Protocol):
    """The ``register`` callback of ``register_config_sections``: ``register("notify", NotifyOptions)``."""

    def __call__(self, name: str, model: type[PluginOptions], /) -> None: ...


class RegisterTarget(Protocol):
    """The ``register`` callback of ``register_targets``: ``register("myshop", MyShopTarget)``."""

    def __call__(self, name: str, cls: type[Target[Any]], /) -> None: ...


@hookspec
def register_sources(register: RegisterSource) -> None:
    """Register ERP source adapters: call ``register(name, SourceSubclass)`` once per adapter."""


@hookspec
def register_targets(register: RegisterTarget) -> None:
    """Register shop target adapters: call ``register(name, TargetSubclass)`` once per adapter."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``tradecredit`` CLI (``cli`` is the root click group)."""


@hookspec
def before_run(run: RunInfo) -> None:
    """Called when a pipeline run starts, after the run lock is taken."""


@hookspec
def after_batch(run: RunInfo, batch: BatchOutcome) -> None:
    """Called after each batch the target answered, with the confirmed and failed keys."""


@hookspec
def after_run(run: RunInfo, report: RunReport) -> None:
    """Called when a run ends normally, with the final report (also for dry runs)."""


@hookspec
def on_error(run: RunInfo, error: BaseException, report: RunReport) -> None:
    """Called when a run stops on an error (configuration, lock, transient after retries, system).

    ``error`` is the exception ``run_pipeline`` raises next; ``report`` the failed run's report.
    """


@hookspec
def register_config_sections(register: RegisterConfigSection) -> None:
    """Claim a top-level config table: call ``register(section, OptionsModel)`` (a ``PluginOptions`` subclass).

    The table is validated with that model when the config loads (unknown keys are errors, named by path) and
    is available as ``config.sections[section]``; lifecycle hooks reach the config through ``run.config``.
    """
