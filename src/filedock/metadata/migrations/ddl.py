"""Column builders shared by the migration scripts in versions/ (and used by nothing else).

Frozen history, like the scripts themselves: every revision that calls a builder here produces
the schema it builds today, on databases already deployed and on new ones alike. Never change
what an existing builder produces; a new schema shape gets a new builder (or plain `sa.Column`).

Each builder returns new `Column` objects on every call: a column belongs to the one table it is
added to, and one process may migrate several databases.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

# A 64-bit sequence on PostgreSQL; SQLite needs INTEGER PRIMARY KEY for its rowid alias.
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ColumnType = type[sa.types.TypeEngine[Any]]


def sequence() -> sa.Column[Any]:
    """`seq`: the creation-order primary key (the table also wants `sqlite_autoincrement=True`,
    so SQLite never reuses the number of a deleted row)."""
    return sa.Column("seq", SEQ, sa.Identity(), primary_key=True)


def primary_key(type_: ColumnType, *names: str) -> list[sa.Column[Any]]:
    """The primary key column(s), of one type, in the order given."""
    return [sa.Column(name, type_(), primary_key=True) for name in names]


def not_null(type_: ColumnType, *names: str) -> list[sa.Column[Any]]:
    """NOT NULL columns of one type, in the order given."""
    return [sa.Column(name, type_(), nullable=False) for name in names]


def nullable(type_: ColumnType, *names: str) -> list[sa.Column[Any]]:
    """Nullable columns of one type, in the order given."""
    return [sa.Column(name, type_(), nullable=True) for name in names]


def counters(*names: str) -> list[sa.Column[Any]]:
    """BIGINT NOT NULL DEFAULT '0' columns, in the order given."""
    return [sa.Column(name, sa.BigInteger(), nullable=False, server_default="0") for name in names]


def lease() -> list[sa.Column[Any]]:
    """`lease_owner`, `lease_until`: who works on the row and until when (nullable: no lease);
    a lease that runs out may be claimed by another server."""
    return [*nullable(sa.Text, "lease_owner"), *nullable(sa.BigInteger, "lease_until")]
