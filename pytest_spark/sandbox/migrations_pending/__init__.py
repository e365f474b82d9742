"""Pending-migration fault material for the PF-04 rehearsal (see README.md)."""
