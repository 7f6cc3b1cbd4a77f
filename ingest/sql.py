"""Quoting for the few places where DuckDB cannot bind a value as a `?` parameter (paths in COPY ... TO,
ATTACH and read_parquet lists, names of relations). Every value that comes from outside the code (a path from
DATA_DIR, a run id, a file name, a vendor's text) reaches SQL through a parameter or through these helpers,
never through plain string formatting. And whether a table exists, asked the one way."""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from typing import Any


def literal(value: str | PathLike) -> str:
    """A SQL string literal: single quotes doubled, so no value can end the literal early."""
    text = str(value)
    if "\x00" in text:
        raise ValueError("a SQL literal cannot hold a NUL character")
    return "'" + text.replace("'", "''") + "'"


def literal_list(values: Iterable[str | PathLike]) -> str:
    """A DuckDB list of string literals, e.g. for read_parquet([...])."""
    return "[" + ", ".join(literal(v) for v in values) + "]"


def identifier(name: str) -> str:
    """A quoted SQL identifier: double quotes doubled."""
    if "\x00" in name:
        raise ValueError("a SQL identifier cannot hold a NUL character")
    return '"' + name.replace('"', '""') + '"'


def table_exists(con: Any, schema: str, table: str) -> bool:
    """Whether `schema.table` exists in the connection's database (a DuckDB connection)."""
    sql = "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?"
    return con.execute(sql, [schema, table]).fetchall()[0][0] > 0
