"""Reading PostgreSQL's EXPLAIN (FORMAT JSON) output, for the tests and the bench."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def plan_nodes(plan: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object of a plan, depth first, each before the objects it holds (a plan node
    before its sub-plans), in the order EXPLAIN printed them."""
    if isinstance(plan, dict):
        yield plan
        for value in plan.values():
            yield from plan_nodes(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from plan_nodes(value)
