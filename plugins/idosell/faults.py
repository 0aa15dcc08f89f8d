"""Fault injection for the IdoSell sandbox: rules chosen from tests, the Python API or the command line.

A rule applies to requests whose operation matches (``op``: ``"*"`` or e.g. ``"PUT clients/clients"``), for
the next ``times`` matching requests (``None`` = until cleared). Kinds:

* ``429``: HTTP 429 with ``Retry-After: <retry_after>`` seconds.
* ``500`` (or any 5xx given as ``status``): an internal server error.
* ``4xx`` (any 4xx given as ``status``, default 422): the whole request refused with ``errors.faultString`` =
  ``fault_string``, as the real API does for a body it cannot accept (not retried by clients).
* ``slow``: wait ``delay`` seconds, then answer normally (a client with a shorter timeout sees a timeout).
* ``drop``: start the response and close the connection mid-body (the client sees a dropped connection).
* ``drip``: answer normally, but send the body a few bytes at a time, ``delay`` seconds between them (a
  per-read timeout never trips; only a deadline on the whole request stops the client waiting).
* ``partial``: ``PUT clients/clients`` answers 207 and the items whose ``requestReference`` is in ``refs``
  fail (with ``faultCode``/``faultString``).

Command-line syntax (``--fault``, repeatable): ``KIND[:key=value,...]``, e.g. ``429:times=3,retry_after=1``,
``500:times=10``, ``422:op=PUT clients/clients,fault_string=Invalid data``, ``slow:delay=5``,
``drop:times=1,op=PUT clients/clients``, ``drip:delay=0.5``, ``partial:refs=KH-1|KH-2``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

FaultKind = Literal["429", "500", "4xx", "slow", "drop", "drip", "partial"]
KINDS: tuple[str, ...] = ("429", "500", "4xx", "slow", "drop", "drip", "partial")
DEFAULT_STATUS = {"500": 500, "4xx": 422}
DEFAULT_MESSAGE = {"4xx": "sandbox: injected refusal of the request", "partial": "sandbox: injected item failure"}
WRITE_OP = "PUT clients/clients"


@dataclass
class Fault:
    kind: FaultKind
    op: str = "*"
    times: int | None = 1
    retry_after: float = 1.0
    delay: float = 2.0
    status: int = 0  # 0: the kind's default (500, or 422 for 4xx)
    refs: frozenset[str] = frozenset()
    fault_code: int = 99
    fault_string: str = ""  # "": the kind's default message
    hits: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.kind == "partial" and self.op == "*":
            self.op = WRITE_OP
        if not self.status:
            self.status = DEFAULT_STATUS.get(self.kind, 500)
        families = {"500": 5, "4xx": 4}
        if self.kind in families and self.status // 100 != families[self.kind]:
            raise ValueError(f"fault kind {self.kind} needs a {families[self.kind]}xx status, not {self.status}")
        if not self.fault_string:
            self.fault_string = DEFAULT_MESSAGE.get(self.kind, "sandbox: injected fault")
        self.refs = frozenset(self.refs)

    def matches(self, op: str) -> bool:
        return self.op == "*" or self.op == op

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class FaultPlan:
    """The active rules, thread-safe (the server runs in its own thread)."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = list(faults or [])

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    def take(self, op: str) -> Fault | None:
        """The first live rule for ``op``; counts the hit."""
        with self._lock:
            for fault in self._faults:
                if not fault.exhausted and fault.matches(op):
                    fault.hits += 1
                    return fault
        return None


def parse_fault(spec: str) -> Fault:
    """Parse the command-line syntax ``KIND[:key=value,...]`` (see the module docstring)."""
    kind, _, rest = spec.strip().partition(":")
    values: dict[str, Any] = {}  # option name → parsed value, checked by Fault itself
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"fault option {part!r} must be key=value")
        value = value.strip()
        if key == "times":
            values[key] = None if value in ("", "always", "forever") else int(value)
        elif key in ("retry_after", "delay"):
            values[key] = float(value)
        elif key in ("status", "fault_code"):
            values[key] = int(value)
        elif key == "refs":
            values[key] = frozenset(r for r in value.split("|") if r)
        elif key in ("op", "fault_string"):
            values[key] = value
        else:
            raise ValueError(f"unknown fault option {key!r}")
    kind = kind.strip()
    # A bare status selects its family: "503" → kind 500 with status 503, "422" → kind 4xx with status 422.
    if kind.isdigit() and kind != "429" and kind[0] in "45":
        values.setdefault("status", int(kind))
        kind = "500" if kind.startswith("5") else "4xx"
    return Fault(kind=fault_kind(kind), **values)


def fault_kind(text: str) -> FaultKind:
    """``text`` as a fault kind, or ``ValueError`` naming the kinds there are."""
    for kind in get_args(FaultKind):
        if kind == text:
            return kind  # get_args gives the Literal's values (untyped, hence no cast needed)
    raise ValueError(f"unknown fault kind {text!r}; expected one of {', '.join(KINDS)}")
