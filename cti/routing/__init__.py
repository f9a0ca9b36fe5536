"""Routing: which phones ring for a call, in what order, and why."""
