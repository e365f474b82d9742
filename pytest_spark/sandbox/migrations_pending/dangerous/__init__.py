"""Pending migration set 'dangerous' (data files)."""
