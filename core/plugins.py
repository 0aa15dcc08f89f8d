"""The plugin host: discovers entry points one by one, validates registrations, remembers provenance.

pluggy's ``load_setuptools_entrypoints`` lets one broken plugin take the whole host down, so we iterate the
``tradecredit`` entry-point group ourselves, load each inside its own ``try`` and record failures.
Built-in plugins are entry points of this distribution, loaded exactly like third-party ones. Nothing is
loaded at import time: ``get_host()`` builds the host on first use, and tests build fresh hosts.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import inspect
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

import pluggy

from . import hookspecs
from .adapters import AdapterT, PluginOptions, Registered, Source, Target
from .errors import PluginError
from .secrets import mask

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tradecredit"
STRICT_ENV = "TRADECREDIT_STRICT_PLUGINS"


@dataclass(frozen=True)
class PluginFailure:
    plugin: str
    distribution: str | None
    version: str | None
    error: str


@dataclass(frozen=True)
class HookFailure:
    """A lifecycle hook implementation that raised; the run and the other implementations went on."""

    plugin: str
    hook: str
    error: str


@dataclass(frozen=True)
class PluginInfo:
    plugin: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


def _strict_from_env() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


class PluginHost:
    """Holds the pluggy manager and the validated registry of sources and targets."""

    def __init__(self, *, strict: bool | None = None) -> None:
        self.strict = _strict_from_env() if strict is None else strict
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.sources: dict[str, Registered[Source[Any]]] = {}
        self.targets: dict[str, Registered[Target[Any]]] = {}
        self.failures: list[PluginFailure] = []
        # The latest lifecycle-hook failures (bounded: a service runs for months).
        self.hook_failures: deque[HookFailure] = deque(maxlen=100)
        self._provenance: dict[str, tuple[str | None, str | None]] = {}

    # --- loading ----------------------------------------------------------------------------------------
    def load_entrypoints(self, only: Iterable[str] | None = None) -> PluginHost:
        """Load every plugin of the entry-point group (or just the names in ``only``)."""
        wanted = set(only) if only is not None else None
        seen: set[str] = set()
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if (wanted is not None and ep.name not in wanted) or ep.name in seen:
                continue
            seen.add(ep.name)
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            try:
                plugin = ep.load()
            except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything, even SystemExit
                self._fail(ep.name, dist, version, f"import failed: {type(exc).__name__}: {exc}", exc)
                continue
            self.add_plugin(plugin, name=ep.name, distribution=dist, version=version)
        return self

    def add_plugin(
        self,
        plugin: ModuleType | object,
        *,
        name: str | None = None,
        distribution: str | None = None,
        version: str | None = None,
    ) -> bool:
        """Register one plugin object and run its registration hooks. Returns False when it was rejected."""
        plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        try:
            guarded = self._with_guards(plugin, plugin_name)
            self.pm.register(guarded, name=plugin_name)
        except BaseException as exc:  # noqa: BLE001
            self._fail(plugin_name, distribution, version, f"invalid hooks: {exc}", exc)
            return False
        self._provenance[plugin_name] = (distribution, version)
        before_sources, before_targets = dict(self.sources), dict(self.targets)
        try:
            self._call_registration(guarded, plugin_name, "register_sources", "source", Source, self.sources)
            self._call_registration(guarded, plugin_name, "register_targets", "target", Target, self.targets)
        except BaseException as exc:  # noqa: BLE001
            self.sources, self.targets = before_sources, before_targets
            self.pm.unregister(guarded)
            self._provenance.pop(plugin_name, None)
            self._fail(plugin_name, distribution, version, f"registration failed: {exc}", exc)
            return False
        return True

    def _call_registration(
        self, plugin: object, plugin_name: str, hook: str, kind: str, base: type, into: dict[str, Registered[Any]]
    ) -> None:
        impl = next((i for i in getattr(self.pm.hook, hook).get_hookimpls() if i.plugin is plugin), None)
        if impl is None:
            return
        distribution, version = self._provenance.get(plugin_name, (None, None))

        def register(name: str, cls: type, /) -> None:
            if not isinstance(name, str) or not name.isidentifier():
                raise PluginError(f"{kind} name {name!r} must be an identifier")
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise PluginError(f"{kind} {name!r} must be a subclass of {base.__name__}, got {cls!r}")
            options = getattr(cls, "Options", None)
            if not (isinstance(options, type) and issubclass(options, PluginOptions)):
                raise PluginError(f"{kind} {name!r}: Options must subclass PluginOptions")
            if name in into:
                other = into[name]
                raise PluginError(
                    f"{kind} {name!r} is already registered by plugin {other.plugin!r}"
                    f" ({other.distribution or 'unknown distribution'})"
                )
            into[name] = Registered(kind, name, cls, plugin_name, distribution, version)

        impl.function(register=register)

    def _fail(self, plugin: str, dist: str | None, version: str | None, message: str, exc: BaseException) -> None:
        failure = PluginFailure(plugin, dist, version, mask(message))
        self.failures.append(failure)
        log.warning("plugin %s (%s %s) skipped: %s", plugin, dist or "?", version or "?", failure.error)
        if self.strict:
            raise PluginError(
                f"plugin {plugin!r} from {dist or 'unknown distribution'} failed ({STRICT_ENV}=1): {failure.error}"
            ) from exc

    # --- queries ----------------------------------------------------------------------------------------
    def source(self, name: str) -> Registered[Source[Any]]:
        return self._lookup(self.sources, name, "source")

    def target(self, name: str) -> Registered[Target[Any]]:
        return self._lookup(self.targets, name, "target")

    def _lookup(self, table: dict[str, Registered[AdapterT]], name: str, kind: str) -> Registered[AdapterT]:
        try:
            return table[name]
        except KeyError:
            known = ", ".join(sorted(table)) or "none"
            failed = [f.plugin for f in self.failures]
            hint = f"; plugins that failed to load: {', '.join(failed)}" if failed else ""
            raise PluginError(f"no {kind} plugin named {name!r} (installed: {known}{hint})") from None

    def plugins(self) -> list[PluginInfo]:
        infos = []
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda np: np[0]):
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or []))
            dist, version = self._provenance.get(name, (None, None))
            infos.append(PluginInfo(name, dist, version, hooks))
        return infos

    # --- lifecycle hooks ------------------------------------------------------------------------------
    @property
    def hook(self) -> pluggy.HookRelay:
        """pluggy's hook relay: ``host.hook.after_run(run=..., report=...)`` calls every implementation."""
        return self.pm.hook

    def _with_guards(self, plugin: object, plugin_name: str) -> object:
        """What the host registers with pluggy for ``plugin``: its hook implementations, lifecycle ones guarded.

        pluggy stops a hook call at the first exception, so one broken notifier would silence the others and
        fail the run. Each lifecycle implementation is wrapped so that its exception is logged instead; pluggy
        still orders and calls the implementations itself (``tryfirst``, ``trylast``, wrappers around the rest),
        reading their options and argument names from the wrapped functions.
        """
        marker = f"{ENTRY_POINT_GROUP}_impl"
        stand_in = SimpleNamespace()
        for attr in dir(plugin):
            try:
                value = getattr(plugin, attr)
            except Exception:  # noqa: BLE001 - a module attribute that fails on access is no hook
                continue
            opts = getattr(value, marker, None) if inspect.isroutine(value) else None
            if not isinstance(opts, dict):
                continue
            hook = opts.get("specname") or attr
            if hook in hookspecs.LIFECYCLE_HOOKS:
                value = self._guard(value, opts, hook, plugin_name)
            setattr(stand_in, attr, value)
        return stand_in

    def _guard(
        self, function: Callable[..., Any], opts: dict[str, Any], hook: str, plugin_name: str
    ) -> Callable[..., Any]:
        marker = f"{ENTRY_POINT_GROUP}_impl"

        def failed(exc: Exception) -> None:
            failure = HookFailure(plugin_name, hook, mask(f"{type(exc).__name__}: {exc}"))
            self.hook_failures.append(failure)
            log.warning("hook %s of plugin %s failed: %s", hook, plugin_name, failure.error)

        if not (opts.get("wrapper") or opts.get("hookwrapper")):

            @functools.wraps(function)
            def call(*args: Any) -> Any:
                try:
                    return function(*args)
                except Exception as exc:  # noqa: BLE001 - a notifier must not stop a run or the other plugins
                    failed(exc)
                    return None

            setattr(call, marker, opts)
            return call

        new_style = bool(opts.get("wrapper"))

        @functools.wraps(function)
        def wrap(*args: Any) -> Generator[None, Any, Any]:
            inner = function(*args)
            try:
                next(inner)
            except Exception as exc:  # noqa: BLE001 - failed before yielding: the hook goes on without it
                failed(exc)
                return (yield)
            try:
                outcome = yield  # the result of the implementations inside (a pluggy Result for old-style ones)
            except BaseException as exc:  # only what the guards let through (KeyboardInterrupt): pass it in
                try:
                    inner.throw(exc)
                except StopIteration as stop:
                    return stop.value if new_style else None
                raise
            try:
                inner.send(outcome)
            except StopIteration as stop:
                return stop.value if new_style else None
            except Exception as exc:  # noqa: BLE001 - failed after yielding: the inner result stands
                failed(exc)
                return outcome if new_style else None
            inner.close()
            failed(RuntimeError("the wrapper yielded more than once"))
            return outcome if new_style else None

        setattr(wrap, marker, opts)
        return wrap


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide host, built lazily from entry points on first use."""
    global _host
    with _host_lock:
        if _host is None:
            _host = PluginHost().load_entrypoints()
        return _host


def set_host(host: PluginHost | None) -> None:
    """Replace the process-wide host (tests, embedding applications)."""
    global _host
    with _host_lock:
        _host = host
