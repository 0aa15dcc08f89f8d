"""Splitting work into batches: writes to a shop, ``IN (...)`` lists for the state store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    """``items`` in consecutive slices of at most ``size`` (at least one item per slice)."""
    step = max(1, size)
    for i in range(0, len(items), step):
        yield items[i : i + step]
