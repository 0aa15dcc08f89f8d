"""The two adapter contracts plugins implement: ``Source`` (reads an ERP) and ``Target`` (writes a shop).

A plugin registers its adapter classes through the ``register_sources`` / ``register_targets`` hooks. The
orchestrator (``core.sync``) owns everything around them: validation, de-duplication, matching, the
ledger diff, batching, retries of failed customers on the next run, the report and the state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import UnionType
from typing import Any, ClassVar, Generic, Protocol, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .billing import CREDIT, BillingRecord, CountryTable
from .engine import DEFAULT_POLICY, CreditPolicy, ModeMapping, ValueReason
from .records import ControlMode, CreditRecord, RejectedRow, normalise_code


class PluginOptions(BaseModel):
    """Base of every plugin's options model: unknown keys are errors (they catch typos), and the plain scalar
    types are strict: ``enabled = "yes"`` or ``batch_size = "100"`` is a mistake in the file, not something to
    guess at (lax coercion would also take ``"0"`` for false and ``1.9`` for 1)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None or value is None:
            return value
        kind = _scalar_kind(field.annotation)
        if kind is bool and not isinstance(value, bool):
            raise ValueError(f"Input should be a valid boolean: true or false (without quotes), not {value!r}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"Input should be a valid integer, written without quotes, not {value!r}")
        if kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"Input should be a valid number, written without quotes, not {value!r}")
        return value


def _scalar_kind(annotation: Any) -> type | None:
    """``bool``/``int``/``float`` when the field is exactly that type (or it or None); else None."""
    if annotation in (bool, int, float):
        return annotation  # type: ignore[no-any-return]
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(args) == 1 and args[0] in (bool, int, float):
        return args[0]  # type: ignore[no-any-return]
    return None


class CheckStatus(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


class CheckResult(BaseModel):
    """One line of ``tradecredit check``."""

    name: str
    status: CheckStatus
    detail: str = ""
    # What to do about a WARN or FAIL, spelled out (``tradecredit doctor`` prints it; ``check`` ignores it).
    fix: str | None = None


@dataclass(frozen=True)
class ExpectedTable:
    """A table a source reads and the columns it needs (``tradecredit doctor`` compares them with the database).

    ``schema`` as the database names it (``CDN`` on SQL Server and PostgreSQL; ``None`` for a SQLite copy).
    """

    schema: str | None
    name: str
    columns: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


class KeyValueCache(Protocol):
    """A small persistent cache in the state store, namespaced per target instance."""

    def get_many(self, namespace: str, keys: list[str]) -> dict[str, Any]: ...
    def put_many(self, namespace: str, values: Mapping[str, Any]) -> None: ...
    def delete(self, namespace: str, keys: list[str]) -> None: ...


@dataclass
class AdapterContext:
    """What the host hands an adapter besides its options."""

    instance_name: str
    cache: KeyValueCache | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    # ``[engine]`` of the config: a target derives what it writes from ``engine.effective_credit(record, policy)``.
    policy: CreditPolicy = DEFAULT_POLICY
    # The pipeline's ``sync`` kinds: a source reads billing columns only when "billing" is in it.
    sync: frozenset[str] = frozenset({CREDIT})
    # ``[billing] countries``: how a source maps the ERP's free-text country to ISO 3166-1 alpha-2.
    countries: CountryTable = field(default_factory=CountryTable)


OptionsT = TypeVar("OptionsT", bound=PluginOptions)


class _Adapter(Generic[OptionsT]):
    """What sources and targets share: validated options, the host's context, the instance name.

    Generic over the options model: ``class MySource(Source[MyOptions])`` types ``self.options`` as
    ``MyOptions`` and sets ``Options = MyOptions`` (the model the host validates the config table with).
    """

    Options: ClassVar[type[PluginOptions]] = PluginOptions
    description: ClassVar[str] = ""

    def __init__(self, options: OptionsT, context: AdapterContext) -> None:
        self.options: OptionsT = options
        self.context = context

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = _options_argument(cls)
        if declared is None:
            return
        if "Options" not in cls.__dict__:
            cls.Options = declared
        elif not (isinstance(cls.Options, type) and issubclass(cls.Options, declared)):
            raise TypeError(f"{cls.__name__}.Options must be {declared.__name__} (or a subclass of it)")

    @property
    def name(self) -> str:
        return self.context.instance_name


def _options_argument(cls: type) -> type[PluginOptions] | None:
    """The options model in ``class X(Source[MyOptions])``; None without one (or with a type variable)."""
    for base in cls.__dict__.get("__orig_bases__", ()):
        for arg in get_args(base):
            if isinstance(arg, type) and issubclass(arg, PluginOptions):
                return arg
    return None


class Source(_Adapter[OptionsT], ABC):
    """Reads customers' credit from an ERP. Read-only, set-based, streamed."""

    # The data kinds this source can read (a pipeline's ``sync`` may name only these).
    kinds: ClassVar[frozenset[str]] = frozenset({CREDIT})

    @abstractmethod
    def read(self, as_of: datetime) -> Iterator[CreditRecord | BillingRecord | RejectedRow]:
        """Yield one ``CreditRecord`` per customer, or a ``RejectedRow`` saying why a row is unusable.

        With "billing" in ``context.sync`` also one ``BillingRecord`` per customer (or a ``RejectedRow`` with
        ``kind = "billing"``), after its ``CreditRecord``.
        """

    def read_codes(self, codes: Sequence[str], as_of: datetime) -> Iterator[CreditRecord | RejectedRow]:
        """The records (or rejections) of just these customer codes (optional; ``tradecredit explain``).

        Codes compare normalised (``normalise_code``), like matching. Override it with a query filtered by code:
        the default reads the whole snapshot and filters it, which is correct but as slow as a run.
        """
        wanted = {normalise_code(c) for c in codes}
        for item in self.read(as_of):
            if isinstance(item, BillingRecord) or (isinstance(item, RejectedRow) and item.kind != CREDIT):
                continue  # explain shows credit; billing data is not what it asks for
            if item.code is not None and normalise_code(item.code) in wanted:
                yield item

    def describe(self, record: CreditRecord) -> Mapping[str, str]:
        """The ERP fields behind each value of ``record`` (optional; ``tradecredit explain`` shows them).

        Keys: ``limit``, ``used``, ``overdue``, ``overdue_limit``, ``mode``; values name the columns and their
        values as the ERP calls them (``Knt_LimitFlag = 1; Knt_LimitKredytu = 2300.00``), without prose, so the
        text reads the same in every language of the output. The default describes nothing.
        """
        return {}

    def keys(self, as_of: datetime) -> Iterable[str] | None:
        """The customer codes ``read`` may yield records for, cheaply (optional; e.g. one ``SELECT`` of the codes).

        Lets the orchestrator find duplicate codes without holding the snapshot in memory, so a run streams in
        chunks. A superset is fine (codes of rows that end up rejected or skipped); a code ``read`` yields but
        ``keys`` leaves out could let a duplicate through. ``None`` (the default): the orchestrator reads the
        whole snapshot first.
        """
        return None

    def check(self, as_of: datetime) -> list[CheckResult]:
        """Connectivity and data-shape checks for ``tradecredit check``."""
        return []

    def database_url(self) -> str | None:
        """The SQLAlchemy URL this source reads (``doctor``, ``config validate``); None when it reads no database."""
        url = getattr(self.options, "url", None)
        return url if isinstance(url, str) else None

    def expected_schema(self, dialect: str) -> list[ExpectedTable]:
        """The tables and columns the read needs, as named on ``dialect`` (``doctor`` checks they exist)."""
        return []

    def check_references(self) -> list[CheckResult]:
        """``config validate``: names the options refer to in the ERP (a workstation, a branch) exist there.

        FAIL for a name the database does not have; WARN (with what was not checked) when it cannot be reached.
        """
        return []

    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class Unsupported:
    """A customer a target cannot represent: not bad data, a steady state (outcome ``unsupported``)."""

    reason: str
    reason_code: ValueReason = ValueReason.UNSUPPORTED_CURRENCY


class ItemStatus(StrEnum):
    CONFIRMED = "confirmed"
    FAILED = "failed"


class OutgoingItem(BaseModel):
    """One customer's write, as the orchestrator hands it to ``Target.write``."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    key: str = Field(description="normalised customer code")
    code: str
    payload: dict[str, Any] = Field(description="the JSON the target writes; compared with the ledger")
    match: dict[str, Any] = Field(default_factory=dict, description="shop-side identity from Target.match")
    record: CreditRecord
    mode: ModeMapping
    # kind → the part of ``payload`` that kind's ledger keeps; empty = all of it is credit. Only the kinds that
    # changed are in ``payload``: a billing change never resends credit and vice versa.
    parts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    billing: BillingRecord | None = None

    def kind_parts(self) -> dict[str, dict[str, Any]]:
        return self.parts or {CREDIT: self.payload}
    reasons: dict[str, str] = Field(default_factory=dict, description="payload key → ValueReason code of its value "
                                    "(Target.value_reasons); reports and the audit trail show it")
    previous: dict[str, Any] | None = Field(default=None, description="the ledger's last confirmed payload "
                                            "(None: never confirmed, or a full refresh): the audit's old values")
    credit: dict[str, Any] = Field(default_factory=dict, description="the engine's verdict as recorded in the "
                                   "audit trail (core.book.credit_facts)")


class ItemResult(BaseModel):
    """The shop's verdict on one item; only CONFIRMED items enter the ledger."""

    key: str
    status: ItemStatus
    error: str | None = None
    # Set when the shop says the account behind a cached match no longer exists: the cache entry is dropped.
    stale_match: bool = False
    # Set when the target had to write something else than the item's payload to get it confirmed (e.g. it
    # re-addressed the customer to a new account): the ledger keeps what the shop actually confirmed.
    written_payload: dict[str, Any] | None = None


class Target(_Adapter[OptionsT], ABC):
    """Writes customers' credit to a shop. Declares the modes it can enforce natively."""

    max_batch_size: ClassVar[int] = 100
    native_modes: ClassVar[frozenset[ControlMode]] = frozenset(ControlMode)
    # Payload keys that say *which* shop account is written (e.g. IdoSell's ``clientLogin``), not what is
    # written to it. They go into the payload and the ledger like any key, but never become rows of the
    # dry-run plan: a merchant reviews the business fields about to be overwritten.
    identity_fields: ClassVar[frozenset[str]] = frozenset()
    # The data kinds this target can write (a pipeline's ``sync`` may name only these).
    kinds: ClassVar[frozenset[str]] = frozenset({CREDIT})

    def billing_payload(self, billing: BillingRecord, match: dict[str, Any]) -> dict[str, Any]:
        """The billing values this target would write (targets with "billing" in ``kinds``).

        Deterministic like ``payload``; include the identity fields. Raise ``ValueError`` for data the shop
        cannot take (a value longer than it accepts): that customer's billing data is rejected with the reason,
        its credit still syncs.
        """
        raise NotImplementedError(f"{type(self).__name__} does not write billing data")

    def batch_size(self) -> int:
        """The batch size to use (options may lower it below ``max_batch_size``)."""
        return min(self.max_batch_size, int(getattr(self.options, "batch_size", self.max_batch_size)))

    def mode_policy(self) -> Mapping[ControlMode, ControlMode]:
        """How to enforce modes the target lacks; options named ``mode_policy`` override the default."""
        policy: Mapping[ControlMode, ControlMode] | None = getattr(self.options, "mode_policy", None)
        return policy or {}

    def supported_modes(self) -> frozenset[ControlMode]:
        """The modes this instance enforces: ``native_modes``, unless its options narrow or widen them."""
        return self.native_modes

    def value_reasons(self, record: CreditRecord, mode: ModeMapping) -> Mapping[str, ValueReason]:
        """Payload key → why its value is what it is (optional): the ``EffectiveCredit`` reason the key was
        derived from (``effective_credit(record, self.context.policy, mode=mode.effective).reasons()``).

        Plan rows, the audit trail and ``tradecredit explain`` show it next to the value. Keys left out show no
        reason. The default names none.
        """
        return {}

    def unsupported(self, record: CreditRecord) -> Unsupported | None:
        """Why this target cannot represent ``record`` (e.g. its currency), or ``None``.

        Such a customer is not bad data: it is reported as ``unsupported`` with the reason, never written, and
        does not make the run partial. ``check`` counts them.
        """
        return None

    def match(self, codes: list[str]) -> dict[str, dict[str, Any]]:
        """Resolve customer codes to shop accounts. Codes missing from the result are reported unmatched.

        The default matches every code (for targets keyed by the ERP code itself).
        """
        return {code: {} for code in codes}

    @abstractmethod
    def payload(self, record: CreditRecord, match: dict[str, Any], mode: ModeMapping) -> dict[str, Any]:
        """The JSON-serialisable values this target would write for the customer.

        Must be deterministic: the same record gives the same payload, so an unchanged customer is not
        re-sent. Keep run-specific values (timestamps of the run) out of it.
        """

    @abstractmethod
    def write(self, items: list[OutgoingItem]) -> list[ItemResult]:
        """Write one batch (≤ ``batch_size()`` items). Return one result per item the shop answered for.

        Items missing from the result count as unconfirmed (failed, retried next run). Raise
        ``TransientError`` when the whole batch could not be delivered after retries, ``AuthError`` when
        credentials are refused.
        """

    def current(self, items: list[OutgoingItem]) -> dict[str, dict[str, Any]]:
        """The values the shop holds now for these customers, for the dry-run plan (optional).

        Only the first sync has no ledger to say what the shop holds, yet that is the preview a merchant
        needs before tradecredit overwrites shop data. Contract:

        * ``items`` are matched customers that have **no ledger entry** (never confirmed by this pipeline,
          or a ``--full-refresh``), at most ``batch_size()`` per call. Called only in dry runs.
        * Return ``item.key`` → ``{payload key: value the shop holds now}``. Give only keys of
          ``item.payload`` the shop can read, in the payload's own representation (the same string
          formatting of amounts, the same mode names), so an equal value compares equal and is left out of
          the plan. A missing item or key means "unknown" and the plan says so; never guess.
        * Read only: no writes, no cache updates that matter (the cache is read-only in dry runs anyway).
        * Raising is allowed: the dry run goes on, the report gets a warning and the values show as
          unknown. The orchestrator stops asking after the first failure (a shop that failed after
          retries would only make every further chunk wait out its retries as well).

        The default knows nothing (every value unknown).
        """
        return {}

    def confirm_unchanged(self, codes: list[str], as_of: datetime) -> dict[str, str]:
        """Tell the shop that these customers' credit is unchanged as of ``as_of`` (optional).

        Unchanged customers are not re-sent, so a shop that shows data age would see it grow. Called once
        per real run with the unchanged customers' codes. Return code → ``"accepted"`` or ``"unknown"``;
        an unknown customer's ledger entry is dropped so the next run sends it again. The default does
        nothing (for shops without a notion of data age).
        """
        return {}

    def forget_matches(self, codes: list[str]) -> None:
        """Drop cached matches the shop no longer recognises (``ItemResult.stale_match``).

        The default assumes matches are cached under the namespace ``"match"`` keyed by customer code.
        """
        if self.context.cache is not None and codes:
            self.context.cache.delete("match", codes)

    def check(self, codes: list[str] | None = None) -> list[CheckResult]:
        """Connectivity, credentials and matching checks for ``tradecredit check``."""
        return []

    def diagnose(self) -> list[CheckResult]:
        """``tradecredit doctor``: reachable, clock skew, the key's scopes — each with its ``fix`` spelled out."""
        return []

    def close(self) -> None:
        """Release connections."""


AdapterT = TypeVar("AdapterT", bound=_Adapter[Any])


@dataclass(frozen=True)
class Registered(Generic[AdapterT]):
    """An adapter class the host accepted, with its provenance."""

    kind: str  # "source" or "target"
    name: str
    cls: type[AdapterT]
    plugin: str
    distribution: str | None
    version: str | None
