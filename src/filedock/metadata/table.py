"""The row <-> record mapping of one table, derived once from a record type's fields."""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

import msgspec

R = TypeVar("R")


class Table(Generic[R]):
    """A table whose columns are, in order, the fields of a dataclass or msgspec Struct.

    Adding a column is a migration plus one field: every SELECT list, INSERT and mapping follows.
    `read_only` names columns the database (or the aggregate) keeps, such as a sequence or a
    counter: they are selected into the record but never inserted from it.
    """

    def __init__(self, name: str, record: type[R], *, read_only: tuple[str, ...] = ()) -> None:
        self.name = name
        self.record = record
        self.fields: tuple[str, ...] = _field_names(record)
        unknown = set(read_only) - set(self.fields)
        if unknown:
            raise ValueError(f"{name}: read_only names no field: {sorted(unknown)}")
        self.written: tuple[str, ...] = tuple(f for f in self.fields if f not in read_only)
        self.columns = ", ".join(self.fields)
        self.select_sql = f"SELECT {self.columns} FROM {name}"
        self.insert_sql = (
            f"INSERT INTO {name} ({', '.join(self.written)}) "
            f"VALUES ({', '.join('?' for _ in self.written)})"
        )

    def qualified(self, alias: str) -> str:
        """The column list with a table alias, for joins: `f.id, f.project_id, ...`."""
        return ", ".join(f"{alias}.{column}" for column in self.fields)

    def values(self, record: R) -> tuple[Any, ...]:
        """The record's values in the order of `insert_sql`'s columns."""
        return tuple(getattr(record, column) for column in self.written)

    def row(self, row: tuple[Any, ...]) -> R:
        """A record from a row selected with `columns`."""
        return self.record(*row)


def _field_names(record: type[Any]) -> tuple[str, ...]:
    if issubclass(record, msgspec.Struct):
        return record.__struct_fields__
    if dataclasses.is_dataclass(record):
        return tuple(f.name for f in dataclasses.fields(record))
    raise TypeError(f"{record!r} is neither a dataclass nor a msgspec Struct")
