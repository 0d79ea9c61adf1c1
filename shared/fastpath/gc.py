"""The garbage collector's settings for a long-running service process.

`settle()` runs once start-up is done:
- what start-up built (modules, pydantic schemas, routes) lives as long as the process:
  `gc.freeze()` keeps it out of the collector's full passes, which would otherwise walk it
  all every few thousand events;
- a request builds thousands of short-lived containers (a position batch: a tuple, a dict
  and a datetime per fix) that are all still alive when CPython's default threshold (700
  allocations) triggers a young collection, so each is traversed and promoted, then
  traversed again a generation up. With room for a whole request's objects, most are freed
  by reference counting before a collection sees them; cycles are still collected, later.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)


def settle() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)
