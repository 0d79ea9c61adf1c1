"""Helpers shared by every test package (waiting on observables, quiescing the stack)."""
