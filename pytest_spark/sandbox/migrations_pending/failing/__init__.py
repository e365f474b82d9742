"""Pending migration set 'failing' (data files)."""
