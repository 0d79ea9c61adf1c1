"""Dynamic filters for list queries: conditions with numbered asyncpg parameters; many
rows sent as one parameter (`json_rows`, read back by `json_row_columns`); and values written
as SQL constants (`literal`), for the few statements sent as simple queries.

Only values travel as parameters; column names and SQL fragments are the caller's own
literals, never input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson


class Filters:
    """`f = Filters(now)`; `f.equals("status", status)`; `f.where(f"x < {f.param(v)}")`;
    then `f"SELECT ... {f.clause} ... LIMIT {f.param(limit)}", *f.args`."""

    def __init__(self, *args: Any) -> None:
        self.args: list[Any] = list(args)
        self.conditions: list[str] = []

    def param(self, value: Any) -> str:
        """Add a parameter; returns its placeholder (`$n`)."""
        self.args.append(value)
        return f"${len(self.args)}"

    def where(self, condition: str) -> None:
        self.conditions.append(condition)

    def equals(self, column: str, value: Any) -> None:
        """`column = value`, only when a value is given (an omitted filter)."""
        if value is not None:
            self.where(f"{column} = {self.param(value)}")

    @property
    def clause(self) -> str:
        return f"WHERE {' AND '.join(self.conditions)}" if self.conditions else ""


# --- many rows as one parameter -----------------------------------------------------------------


def json_rows(rows: Sequence[Sequence[Any]]) -> str:
    """Rows of scalars as ONE text parameter, a JSON array of arrays, which the statement reads
    with `json_row_columns` (instead of a typed array per column, `unnest($1::text[], ...)`).

    Why: asyncpg encodes an array parameter element by element, each element first checked against
    `collections.abc.Iterable` in Python and a `timestamptz` one converted with datetime arithmetic;
    the rows of an ingest's statements are hundreds of elements, which orjson writes in one call.
    PostgreSQL then parses text where it took binary: the work moves from the client to the server,
    and shrinks (measured on the statement that ends an /osmand group of 11 fixes: the client's CPU
    about 625 → 420 µs, the server's about 1,070 → 1,195 µs). Values are str, int, float,
    bool, None and aware datetimes (a naive one is taken as UTC): exact both ways, floats written
    shortest-round-trip and datetimes to the microsecond. Floats must be finite (JSON has no NaN:
    orjson writes it as null); every number on these paths is checked finite where it enters."""
    return orjson.dumps(rows, option=orjson.OPT_NAIVE_UTC).decode()


def json_row_columns(columns: Sequence[tuple[str, str]], element: str = "e") -> str:
    """The select list that reads `json_rows`' rows back as typed columns: `element` is one row,
    e.g. `FROM jsonb_array_elements($1::text::jsonb) AS e` (`jsonb`: parsed once, each field then
    found by index; a `json` array is scanned again for every field). `columns`: (name, SQL type)
    in the rows' order."""
    return ", ".join(f"({element}->>{i})::{sql_type} AS {name}" for i, (name, sql_type) in enumerate(columns))


# --- values as SQL constants ----------------------------------------------------------------------


def literal(value: str | bytes | Sequence[bytes | None] | None) -> str:
    """`value` as an SQL constant, for a statement sent as a simple query (which takes no
    parameters; `shared.db.execute_and_commit`): None → NULL; str → a string constant (its quotes
    doubled: standard-conforming, which every pooled connection pins, `shared.db.create_pool`);
    bytes → a `bytea` in hex; a sequence of bytes or None → a `bytea[]` (empty: `'{}'`, typed by
    where it goes). A str holding NUL, which no PostgreSQL text can, is refused (ValueError)."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        if "\0" in value:
            raise ValueError("an SQL string cannot hold NUL")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes):
        return "'\\x" + value.hex() + "'::bytea"
    if not value:
        return "'{}'"
    return "ARRAY[" + ",".join("NULL::bytea" if v is None else literal(v) for v in value) + "]"
