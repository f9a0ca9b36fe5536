"""Exports for spreadsheets and other programs."""
