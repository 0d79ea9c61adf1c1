"""Dynamic filters for list queries: conditions with numbered asyncpg parameters.

Only values travel as parameters; column names and SQL fragments are the caller's own
literals, never input.
"""

from __future__ import annotations

from typing import Any


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
