"""Instances of every event model, built from the models' own fields: one with every optional
field filled (nested models too), one with only what is required, so a schema check sees both
the full shape and the nulls and absences."""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime
from typing import Any, Literal, Union

from pydantic import AwareDatetime, BaseModel

from shared.events import Event

AT = datetime(2026, 11, 30, 10, 15, tzinfo=UTC)


def _value(annotation: Any, name: str, full: bool) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        concrete = [a for a in args if a is not type(None)]
        return _value(concrete[0], name, full) if full or type(None) not in args else None
    if origin is Literal:
        return args[0]
    if origin is typing.Annotated:
        return _value(args[0], name, full)
    if origin is list:
        return [_value(args[0], name, full)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return example(annotation, full=full)
    if annotation is bool:
        return True
    if annotation is int:
        return 3
    if annotation is float:
        return 1.5
    if annotation is str:
        return {"email": "ops@example.com", "phone": "13800000000"}.get(name, f"{name.upper()}1")
    if annotation in (datetime, AwareDatetime):
        return AT
    raise TypeError(f"no example for {name}: {annotation!r}")


def example(model: type[BaseModel], *, full: bool = True) -> Any:
    hints = typing.get_type_hints(model, include_extras=True)
    values = {}
    for name, field in model.model_fields.items():
        if field.is_required() or full:
            values[name] = _value(hints[name], name, full)
    return model(**values)


def events(model: type[Event]) -> list[Event]:
    return [example(model, full=True), example(model, full=False)]
