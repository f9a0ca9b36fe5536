"""AMI actions cti sends, built as plain fields (pure): click-to-call's Originate."""

from __future__ import annotations

import re

#: what a number to dial may contain once spaces, dashes, dots and brackets are gone
_DIALLABLE = re.compile(r"\+?[0-9*#]{2,32}")
_SEPARATORS = re.compile(r"[\s\-().]")


def diallable(number: str) -> str | None:
    """`number` as the dialplan receives it (`+7 (916) 123-45-67` -> `+79161234567`), or None
    when it is not a number (letters, control characters, a dialplan injection attempt)."""
    compact = _SEPARATORS.sub("", number)
    return compact if _DIALLABLE.fullmatch(compact) else None


def originate(
    *,
    device: str,
    number: str,
    context: str,
    action_id: str,
    caller_id: str = "",
    variables: dict[str, str] | None = None,
) -> dict[str, str]:
    """Click-to-call: ring the agent's `device` first; when they pick up, the dialplan `context`
    dials `number` (Async: the reply comes at once, the outcome as OriginateResponse)."""
    fields = {
        "Action": "Originate",
        "Channel": device,
        "Exten": number,
        "Context": context,
        "Priority": "1",
        "Async": "true",
        "ActionID": action_id,
    }
    if caller_id:
        fields["CallerID"] = caller_id
    if variables:
        fields["Variable"] = ",".join(f"{k}={v}" for k, v in variables.items())
    return fields


__all__ = ["diallable", "originate"]
