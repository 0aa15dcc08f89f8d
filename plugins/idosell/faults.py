"""Fault injection for the IdoSell sandbox: rules chosen from tests, the Python API or the command line.

A rule applies to requests whose operation matches (``op``: ``"*"`` or e.g. ``"PUT clients/clients"``), for
the next ``times`` matching requests (``None`` = until cleared). Kinds:

* ``429``: HTTP 429 with ``Retry-After: <retry_after>`` seconds.
* ``500`` (or any 5xx given as ``status``): an internal server error.
* ``slow``: wait ``delay`` seconds, then answer normally (a client with a shorter timeout sees a timeout).
* ``drop``: start the response and close the connection mid-body (the client sees a dropped connection).
* ``partial``: ``PUT clients/clients`` answers 207 and the items whose ``requestReference`` is in ``refs``
  fail (with ``faultCode``/``faultString``).

Command-line syntax (``--fault``, repeatable): ``KIND[:key=value,...]``, e.g. ``429:times=3,retry_after=1``,
``500:times=10``, ``slow:delay=5``, ``drop:times=1,op=PUT clients/clients``, ``partial:refs=KH-1|KH-2``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["429", "500", "slow", "drop", "partial"]
KINDS: tuple[str, ...] = ("429", "500", "slow", "drop", "partial")
WRITE_OP = "PUT clients/clients"


@dataclass
class Fault:
    kind: FaultKind
    op: str = "*"
    times: int | None = 1
    retry_after: float = 1.0
    delay: float = 2.0
    status: int = 500
    refs: frozenset[str] = frozenset()
    fault_code: int = 99
    fault_string: str = "sandbox: injected item failure"
    hits: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.kind == "partial" and self.op == "*":
            self.op = WRITE_OP
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
    values: dict[str, object] = {}
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
    if kind.isdigit() and kind.startswith("5"):
        values.setdefault("status", int(kind))
        kind = "500"
    return Fault(kind=kind, **values)  # type: ignore[arg-type]
