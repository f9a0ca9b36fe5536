"""Supervisor reports: KPIs of inbound calls and callbacks (SPEC capability 8)."""
