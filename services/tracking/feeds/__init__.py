"""The position feeds: the batch API, /osmand (OsmAnd / Traccar Client) and Traccar forwarding.

`api` (routes and the fast routes in front of FastAPI), `parsing` (what the feeds send, read into
fixes), `ingest` (the one path every fix takes), `group_commit` (/osmand's), `track_cache` (each
vehicle's stored recent track), `repository` (positions SQL), `retention` (the sweep), `models`.
"""
