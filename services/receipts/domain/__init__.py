"""Pure rules of the receipts service (回单管理): no I/O, no clock, no environment.

Every "now" is passed in (``as_of``); every number is configuration with the handbook's
default. Rules refuse with `shared.errors` subclasses (`Invalid` 422, `Conflict` 409,
`Forbidden` 403), which the one handler renders in the contract's error shape.

One module per concept:

* `lifecycle`  — the state machine: `TRANSITIONS`, `transition`, `allowed_actions`;
* `deadlines`  — the 10 / 15 / 20-day return deadlines and the 25-day final limit
  (`due_at`, `final_due_at`), the final-batch arrival that starts the clock;
* `overdue`    — overdue at read time, the chase stages, days overdue;
* `inspection` — qualified or abnormal, and the anomalies;
* `custody`    — who holds the paper, the append-only chain of hand-offs;
* `envelopes`  — what may be sealed in one envelope, and its reconciliation on arrival;
* `reports`    — the month-end report per region and its penalties;
* `access`     — which station may act on a receipt;
* `times`      — aware times only, and station-stated times not in the future.
"""
