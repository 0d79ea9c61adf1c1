"""Cursor pagination for every list: an opaque cursor naming the last row seen.

Keyset pagination (`WHERE (sort_key, id) > ($cursor)`) stays fast at any depth,
unlike OFFSET, and is stable while rows are being added.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from shared.errors import Invalid
from shared.types import MAX_YEAR, MIN_YEAR

T = TypeVar("T")

MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key), default=str)).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise Invalid("invalid_cursor", "cursor is not valid") from exc
    if not isinstance(key, list) or len(key) != arity:
        raise Invalid("invalid_cursor", "cursor is not valid")
    return key


BIGINT_MAX = 2**63 - 1
CursorPart = type[datetime] | type[int] | type[uuid.UUID] | type[str]


def _part(value: Any, kind: CursorPart) -> Any:
    if kind is datetime:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
        if at is None or at.tzinfo is None or not MIN_YEAR <= at.year <= MAX_YEAR:
            raise ValueError("not an aware time of the business range")
        return at
    if kind is int:
        if type(value) is not int or not -BIGINT_MAX - 1 <= value <= BIGINT_MAX:
            raise ValueError("not a bigint")
        return value
    if kind is uuid.UUID:
        return uuid.UUID(str(value))
    if not isinstance(value, str) or len(value) > 200:
        raise ValueError("not a short string")
    return value


def read_cursor(cursor: str | None, *kinds: CursorPart) -> tuple[Any, ...] | None:
    """The key a cursor names, each part checked against its kind (an aware time within the
    business years, a bigint, a UUID, a short string): a forged cursor is 422, never a value
    the database refuses with a 500."""
    key = decode_cursor(cursor, len(kinds))
    if key is None:
        return None
    try:
        return tuple(_part(value, kind) for value, kind in zip(key, kinds, strict=True))
    except (TypeError, ValueError) as exc:
        raise Invalid("invalid_cursor", "cursor is not valid") from exc
