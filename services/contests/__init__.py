"""The contests service (not built yet: see the project's issues)."""
