"""Live updates: events from lcs.events pushed to open desk pages over Server-Sent Events."""
