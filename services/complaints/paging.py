"""Keyset pages of the complaints lists (tickets, calls, callbacks): a cursor names the last
row's sort time and id (`shared.pagination` encodes it); the list routes' query parameters."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query

from shared.pagination import MAX_LIMIT, encode_cursor, read_cursor

Row = TypeVar("Row", bound=Mapping[str, Any])

# The query parameters every list takes: the cursor of the page before, the page size, and
# filters on a snake_case code (a category, an outcome).
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Code = Annotated[str | None, Query(pattern=r"^[a-z_]{1,20}$")]


def after(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The (time, id) a cursor names; 422 `invalid_cursor` for anything else."""
    key = read_cursor(cursor, datetime, uuid.UUID)
    return None if key is None else (key[0], key[1])


def page(rows: list[Row], limit: int, sort: str) -> tuple[list[Row], str | None]:
    """The first `limit` rows (the query asked for one more) and the next page's cursor."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(last[sort].isoformat(), str(last["id"]))
