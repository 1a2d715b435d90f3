"""The row <-> record mapping of one table, derived once from a dataclass's fields."""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

R = TypeVar("R")


class Table(Generic[R]):
    """A table whose columns are, in order, the fields of a dataclass.

    Adding a column is a migration plus one field: every SELECT list, INSERT and mapping follows.
    """

    def __init__(self, name: str, record: type[R]) -> None:
        if not dataclasses.is_dataclass(record):
            raise TypeError(f"{record!r} is not a dataclass")
        self.name = name
        self.record = record
        self.fields: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(record))
        self.columns = ", ".join(self.fields)
        self.insert_sql = (
            f"INSERT INTO {name} ({self.columns}) VALUES ({', '.join('?' for _ in self.fields)})"
        )

    def qualified(self, alias: str) -> str:
        """The column list with a table alias, for joins: `f.id, f.project_id, ...`."""
        return ", ".join(f"{alias}.{column}" for column in self.fields)

    def values(self, record: R) -> tuple[Any, ...]:
        """The record's values in column order."""
        return tuple(getattr(record, column) for column in self.fields)

    def row(self, row: tuple[Any, ...]) -> R:
        """A record from a row selected with `columns`."""
        return self.record(*row)
