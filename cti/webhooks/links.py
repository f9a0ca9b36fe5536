"""Links into other systems: a customer's CRM page and a call's recording, from templates."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

_FORMATTER = string.Formatter()


def template_fields(template: str) -> set[str]:
    """The `{names}` a template uses (ValueError if it is malformed)."""
    return {name for _, name, _, _ in _FORMATTER.parse(template) if name}


def fill(
    template: str, values: Mapping[str, Any], *, paths: frozenset[str] = frozenset()
) -> str | None:
    """`template` with each `{name}` replaced by the URL-quoted value; None when a value the
    template needs is missing or empty (no half-filled link is better than a wrong one)."""
    if not template:
        return None
    needed = template_fields(template)
    quoted: dict[str, str] = {}
    for name in needed:
        value = values.get(name)
        if value is None or value == "":
            return None
        quoted[name] = quote(str(value), safe="/" if name in paths else "")
    return template.format_map(quoted)


@dataclass(frozen=True)
class Links:
    """`crm_url_template` uses {external_id}, {id} or {phone}; `recording_url_template` {file}
    (the MixMonitor file name without directories), {path} (as the dialplan gave it, slashes
    kept) and {linkedid}."""

    crm_url_template: str = ""
    recording_url_template: str = ""

    def crm_url(self, customer: Mapping[str, Any]) -> str | None:
        """The customer's own `crm_url`, else the template filled from the customer."""
        own = customer.get("crm_url")
        if own:
            return str(own)
        phones = customer.get("phones") or []
        values = {
            "id": customer.get("id"),
            "external_id": customer.get("external_id"),
            "phone": phones[0].get("e164") if phones and isinstance(phones[0], Mapping) else None,
        }
        return fill(self.crm_url_template, values)

    def recording_url(self, recording: str | None, linkedid: str = "") -> str | None:
        if not recording:
            return None
        name = recording.replace("\\", "/").rsplit("/", 1)[-1]
        values = {"file": name, "path": recording.lstrip("/"), "linkedid": linkedid}
        return fill(self.recording_url_template, values, paths=frozenset({"path"}))


__all__ = ["Links", "fill", "template_fields"]
