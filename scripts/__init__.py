"""Operational scripts: `python -m scripts.chaos` (make chaos)."""
