"""`make bench`: the real stack on this machine, measured against ceilings taken in the same run.

Run as `python -m bench [--scale tiny|normal|large] [--runs N] [--output FILE]`; it makes its own
database and RabbitMQ vhost (removed at the end) and rewrites docs/BENCHMARKS.md.
"""
