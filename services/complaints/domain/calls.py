"""The call log's one rule with consequences: callbacks the desk owes.

A call with outcome ``callback`` promises one (by its ``callback_due``). It stays owed
until it is settled, in one of two ways:

* a returning call names it (``callback_of``) with a settling outcome — ``no_answer`` is
  only an attempt; ``callback`` settles it and owes a new one (the customer asked to be
  called again later);
* staff mark it done (the matter was settled another way, e.g. the customer called in).

A settled callback cannot be settled again (409 ``callback_settled``).
"""

from __future__ import annotations

from shared.errors import Conflict, Invalid

# Outcomes of a returning call that settle the callback it returns.
CALLBACK_SETTLING_OUTCOMES = frozenset({"answered", "callback", "complaint_opened", "escalated"})


class CallbackSettled(Conflict):
    """The callback was already returned or marked done (409)."""

    def __init__(self, call_id: str) -> None:
        super().__init__("callback_settled", f"the callback of call {call_id} was already returned",
                         {"callback_of": call_id})


def settles_callback(outcome: str) -> bool:
    return outcome in CALLBACK_SETTLING_OUTCOMES


def check_callback_owed(*, call_id: str, outcome: str, settled: bool) -> None:
    """Call ``call_id`` (which exists) still owes a callback: its outcome was ``callback``
    (422 ``not_a_callback``) and nothing settled it yet (409 ``callback_settled``)."""
    if outcome != "callback":
        raise Invalid("not_a_callback", f"call {call_id} did not promise a callback",
                      {"callback_of": call_id, "outcome": outcome})
    if settled:
        raise CallbackSettled(call_id)


def check_returning_call(*, original_id: str, original_outcome: str | None, settled: bool) -> None:
    """A call that says it returns callback ``original_id``: the original must be a call
    (None = no such call, 422 ``unknown_call``) that still owes a callback."""
    if original_outcome is None:
        raise Invalid("unknown_call", f"call {original_id} does not exist", {"callback_of": original_id})
    check_callback_owed(call_id=original_id, outcome=original_outcome, settled=settled)
