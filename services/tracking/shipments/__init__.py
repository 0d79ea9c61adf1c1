"""Shipments: registration (one, or a CSV file: `importing`), scans, reads, lists and searches,
and the ETA / delay evaluation of those on the road (`evaluation`), with their `timeline`."""
