"""Cursor pagination for every list: an opaque cursor naming the last row seen.

Keyset pagination (`WHERE (sort_key, id) > ($cursor)`) stays fast at any depth,
unlike OFFSET, and is stable while rows are being added.
"""

from __future__ import annotations

import base64
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from shared.errors import Invalid

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
