"""The tracking rules, pure: no I/O, no clock (every rule that depends on "now" takes it as an
argument, so replaying a recorded feed decides exactly as the live feed did).

One module per concept:

- `geo`: great-circle distances.
- `config`: `EtaConfig`, every number the ETA, delay and stale rules use.
- `fixes`: a GPS fix and the checks of a reported position (single or a batch).
- `track`: what a vehicle's recent track says: its speed, whether it stopped, the sampling.
- `eta`: the estimated time of arrival.
- `delay`: the delay decision (a state machine), its reasons and what is worth saving.
- `notes`: what a staff note's reason changes.
- `stale`: vehicles without signal.
- `scans`: routes, scans, split shipments, the displayed status, delivery.
- `signing`: identity checks at pickup, ID number protection.
- `exceptions`: cargo exceptions and the weekly summary.
- `reports`: the 08:00 in-transit check and the CSV cells of every report.
- `search`: what a desk search means: phone numbers as stored keys, waybill prefixes.
- `times`: aware times, in UTC.

Rules refuse with `shared.errors` subclasses (`Invalid`, `Conflict`), whose codes the API
answers as they are.
"""
