"""Fakes for pipeline tests, usable by plugin authors: an in-memory source and a scriptable shop target.

Register them on a host with ``host.add_plugin(testing_plugin, name="testing")`` to get the ``memory`` source
and the ``fake`` target.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, ClassVar

from ..core.adapters import ItemResult, ItemStatus, OutgoingItem, PluginOptions, Source, Target
from ..core.engine import ModeMapping
from ..core.hookspecs import RegisterSource, RegisterTarget, hookimpl
from ..core.records import ControlMode, CreditRecord, RejectedRow

MEMORY_ROWS: dict[str, list[CreditRecord | RejectedRow]] = {}
"""Rows a ``memory`` source yields, by dataset name (set them in a test)."""


class MemorySourceOptions(PluginOptions):
    dataset: str = "default"


class MemorySource(Source[MemorySourceOptions]):
    """Yields the rows stored under ``MEMORY_ROWS[dataset]``, re-stamped with the run's ``as_of``."""

    def read(self, as_of: datetime) -> Iterator[CreditRecord | RejectedRow]:
        for row in MEMORY_ROWS.get(self.options.dataset, []):
            yield row.model_copy(update={"as_of": as_of, "source": self.name}) if isinstance(row, CreditRecord) else row


class FakeTargetOptions(PluginOptions):
    batch_size: int = 100
    known_codes: list[str] | None = None  # None = every code has a shop account
    native_modes: list[ControlMode] | None = None
    mode_policy: dict[ControlMode, ControlMode] = {}


class FakeTarget(Target[FakeTargetOptions]):
    """Keeps what it is sent in memory; tests script failures per call with ``FakeTarget.script``.

    ``script`` is a list consumed one entry per ``write`` call: ``None`` confirms all, a set of codes fails
    those items, an exception instance is raised. ``calls`` records every batch (codes and payloads).
    ``shop`` (code → values) is the fake shop's data: writes land there, and ``current`` reads it, so seeding
    it before a first dry run shows what the shop holds. ``current_error`` makes ``current`` raise;
    ``current_calls`` records the codes of each ``current`` call. ``account`` is the identity field.
    """

    identity_fields = frozenset({"account"})
    script: ClassVar[list[Any]] = []
    calls: ClassVar[list[list[dict[str, Any]]]] = []
    shop: ClassVar[dict[str, dict[str, Any]]] = {}

    unchanged_calls: ClassVar[list[list[str]]] = []
    forgotten: ClassVar[set[str]] = set()  # codes the "shop" answers as unknown in confirm_unchanged
    current_calls: ClassVar[list[list[str]]] = []
    current_error: ClassVar[BaseException | None] = None

    @classmethod
    def reset(cls) -> None:
        cls.script, cls.calls, cls.shop, cls.unchanged_calls, cls.forgotten = [], [], {}, [], set()
        cls.current_calls, cls.current_error = [], None

    def current(self, items: list[OutgoingItem]) -> dict[str, dict[str, Any]]:
        cls = type(self)
        cls.current_calls.append([i.code for i in items])
        if cls.current_error is not None:
            raise cls.current_error
        return {
            i.key: {k: v for k, v in cls.shop[i.code].items() if k in i.payload} for i in items if i.code in cls.shop
        }

    def confirm_unchanged(self, codes: list[str], as_of: datetime) -> dict[str, str]:
        type(self).unchanged_calls.append(list(codes))
        return {c: "unknown" if c in type(self).forgotten else "accepted" for c in codes}

    # A real target's modes are a class constant; the fake's come from its options so that one class can play
    # every kind of shop. Reading them per instance is what the orchestrator does anyway.
    @property
    def native_modes(self) -> frozenset[ControlMode]:  # type: ignore[override]  # a property for a ClassVar
        modes = self.options.native_modes
        return frozenset(modes) if modes else frozenset(ControlMode)

    def batch_size(self) -> int:
        return self.options.batch_size

    def match(self, codes: list[str]) -> dict[str, dict[str, Any]]:
        known = self.options.known_codes
        return {c: {"account": c.lower()} for c in codes if known is None or c in known}

    def payload(self, record: CreditRecord, match: dict[str, Any], mode: ModeMapping) -> dict[str, Any]:
        return {
            "account": match["account"],
            "limit": None if record.credit_limit is None else format(record.credit_limit, "f"),
            "used": format(record.used, "f"),
            "mode": mode.effective.value,
        }

    def write(self, items: list[OutgoingItem]) -> list[ItemResult]:
        type(self).calls.append([{"code": i.code, **i.payload} for i in items])
        action = type(self).script.pop(0) if type(self).script else None
        if isinstance(action, BaseException):
            raise action
        failing: Iterable[str] = action or ()
        results = []
        for i in items:
            if i.code in failing:
                results.append(ItemResult(key=i.key, status=ItemStatus.FAILED, error=f"shop refused {i.code}"))
            else:
                type(self).shop[i.code] = i.payload
                results.append(ItemResult(key=i.key, status=ItemStatus.CONFIRMED))
        return results


class testing_plugin:
    """Add to a host with ``host.add_plugin(testing_plugin, name="testing")`` to get ``memory``/``fake``."""

    @staticmethod
    @hookimpl
    def register_sources(register: RegisterSource) -> None:
        register("memory", MemorySource)

    @staticmethod
    @hookimpl
    def register_targets(register: RegisterTarget) -> None:
        register("fake", FakeTarget)
