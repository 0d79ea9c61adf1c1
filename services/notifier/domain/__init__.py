"""Pure rules of the notifier: who gets which message, on which channel, when, and how often.

Nothing here touches the network, the database or the clock: every function takes what it
needs (event data, stored contacts, preferences, ``now``) as arguments, so the rules can be
unit-tested alone and the handlers and senders stay thin. One module per concept, in the
order a message meets them:

* `routing`     — ``ROUTES``, the one table: event type → routes (audience, channels,
  template, urgent, optional predicate on the event data);
* `recipients`  — ``resolve_recipients``: an event → concrete deliveries (one per recipient
  and channel), stored preferences winning over contacts carried by events; and what the
  audit records for a notice that reaches nobody (``undelivered``: ``no_recipient``);
* `preferences` — channels a customer allows, quiet hours (``quiet_until``);
* `idempotency` — at most one message per event, channel and address;
* `throttling`  — at most N messages per recipient per hour;
* `decisions`   — queue now, defer to the end of the quiet hours, or suppress; the
  decision time;
* `retries`     — what to do when a send fails (``classify_failure``, back-off,
  ``should_retry``), and which notifications the desk may send again;
* `sms`         — how many SMS parts a text costs;
* `digest`      — the key customers' daily arrival report;
* `vocabulary`  — the words all of them use (channels, languages, statuses, reasons).
"""
