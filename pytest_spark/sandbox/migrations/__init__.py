"""Versioned SQL migrations of the sandbox schema (data files, see migrate.py)."""
