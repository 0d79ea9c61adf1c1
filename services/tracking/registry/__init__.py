"""The registry: stations and vehicles, and the sweep that finds vehicles without signal."""
