"""The web service's pure rules: no I/O, tested alone (tests/unit/web)."""
