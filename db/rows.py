"""Turning SQLite rows into the stores' frozen dataclasses, and back.

SQLite has no boolean type: a flag is stored as 0/1. The stores hand out real `bool`s so that
nothing above db/ compares with `== 0` or `== 1`; which columns are flags is read from the
dataclass itself (a field annotated `bool` or `bool | None`), so a new flag column needs no
conversion code of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")

_FLAG_TYPES = ("bool", "bool | None")


def columns(cls: type[Any]) -> str:
    """The dataclass's fields as a SELECT list, in the order its constructor takes them."""
    return ", ".join(f.name for f in fields(cls))


def reader(cls: type[T]) -> Callable[[Sequence[Any]], T]:
    """A function building `cls` from a row selected with `columns(cls)`, with the 0/1 of its
    flag fields read as bools (NULL stays None)."""
    flags = [i for i, f in enumerate(fields(cls)) if f.type in _FLAG_TYPES]  # type: ignore[arg-type]

    def read(row: Sequence[Any]) -> T:
        values = list(row)
        for i in flags:
            if values[i] is not None:
                values[i] = bool(values[i])
        return cls(*values)

    return read


def flag(value: bool | None) -> int | None:
    """A bool as SQLite stores it (None stays NULL)."""
    return None if value is None else int(value)
