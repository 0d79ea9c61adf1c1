"""Pure rules of the complaints desk (客诉处理): no I/O, no clock, no database.

One module per concept, in the order of a complaint's life:

* ``vocabulary`` — channels, categories, priorities, reply languages;
* ``tickets`` — default priority, the state machine (``TRANSITIONS``), ticket state per step;
* ``claims`` — who works a ticket: claiming, and a supervisor handing it on;
* ``sla`` — the SLA targets (the 5-minute first response, the 8-hour quote), the policy
  table and lookup, the clock with pauses, due times and breaches;
* ``hours`` — business hours, business-time arithmetic, calendar months;
* ``replies`` — the suggested reply, rendered from ``templates/replies/``;
* ``shipments`` — the read model of tracking's shipments and its merge rules;
* ``calls`` — callbacks the desk owes and what settles them;
* ``care`` — key customers, customer sightings, return visits (回访), satisfaction;
* ``reports`` — the monthly complaints report and its CSV rows;
* ``daily_work`` — the day's work per desk member (calls, answers in time, resolutions).

Every function takes the current time as an argument (``now`` / ``at``) so the rules can
be tested with a controllable clock. Refusals are ``shared.errors`` subclasses carrying
their HTTP status (``Invalid`` 422, ``Conflict`` 409).
"""
