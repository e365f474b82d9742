"""Pending migration set 'ok' (data files)."""
