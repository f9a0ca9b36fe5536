"""Customers: caller-ID normalization (the directory comes with its own issue)."""
