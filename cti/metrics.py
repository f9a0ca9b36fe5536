"""Prometheus exposition of what the server counts (text format 0.0.4, no extra dependency)."""

from __future__ import annotations

from collections.abc import Iterable

Sample = tuple[str, str, str, float]  # name, type, help, value


def render(samples: Iterable[Sample]) -> str:
    lines: list[str] = []
    for name, kind, help_text, value in samples:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name} {float(value):g}")
    return "\n".join(lines) + "\n"
