"""Phones' device states from AMI events: DeviceStateChange, ExtensionStatus, ContactStatus."""

from __future__ import annotations

from dataclasses import dataclass, field

from cti.ami.events import AmiEvent, ContactStatus, DeviceStateChange, ExtensionStatus
from cti.routing.model import UNREACHABLE, AgentProfile, DeviceState

DEVICE_EVENTS = (DeviceStateChange, ExtensionStatus, ContactStatus)

#: ExtensionStatus `Status` bits (ast_extension_states)
_INUSE, _BUSY, _UNAVAILABLE, _RINGING, _ONHOLD = 1, 2, 4, 8, 16

_CONTACT_UP = frozenset({"created", "reachable", "updated", "nonqualified"})
_CONTACT_DOWN = frozenset({"unreachable", "removed"})


def device_key(device: str) -> str:
    """`pjsip/101` and `PJSIP/101` are one device: the technology is case-insensitive."""
    tech, sep, rest = device.strip().partition("/")
    return f"{tech.upper()}/{rest}" if sep else device.strip()


def parse_device_state(raw: str) -> DeviceState:
    try:
        return DeviceState(raw.strip().upper())
    except ValueError:
        return DeviceState.UNKNOWN


def extension_state(status: str, text: str) -> DeviceState:
    """ExtensionStatus's numeric `Status` (bit flags) as a device state."""
    try:
        bits = int(status)
    except ValueError:
        return _EXTENSION_TEXT.get(text.strip().lower(), DeviceState.UNKNOWN)
    if bits < 0:
        return DeviceState.UNKNOWN  # hint removed or deactivated
    if bits & _UNAVAILABLE:
        return DeviceState.UNAVAILABLE
    if bits & _RINGING:
        return DeviceState.RINGINUSE if bits & _INUSE else DeviceState.RINGING
    if bits & _ONHOLD:
        return DeviceState.ONHOLD
    if bits & _BUSY:
        return DeviceState.BUSY
    if bits & _INUSE:
        return DeviceState.INUSE
    return DeviceState.NOT_INUSE


_EXTENSION_TEXT = {
    "idle": DeviceState.NOT_INUSE,
    "inuse": DeviceState.INUSE,
    "busy": DeviceState.BUSY,
    "unavailable": DeviceState.UNAVAILABLE,
    "ringing": DeviceState.RINGING,
    "inuse&ringing": DeviceState.RINGINUSE,
    "hold": DeviceState.ONHOLD,
    "inuse&hold": DeviceState.ONHOLD,
}


@dataclass
class DeviceBook:
    """The last known state of every phone, by device and by hint extension. No I/O."""

    by_device: dict[str, DeviceState] = field(default_factory=dict)
    by_extension: dict[str, DeviceState] = field(default_factory=dict)
    changed_at: dict[str, float] = field(default_factory=dict)

    def apply(self, event: AmiEvent) -> bool:
        """Update from one AMI event; True if it was a device event."""
        if isinstance(event, DeviceStateChange):
            if event.device:
                self._set(device_key(event.device), parse_device_state(event.state), event.ts)
            return True
        if isinstance(event, ExtensionStatus):
            if event.exten:
                self.by_extension[event.exten] = extension_state(event.status, event.status_text)
            return True
        if isinstance(event, ContactStatus):
            status = event.contact_status.strip().lower()
            if not event.endpoint:
                return True
            key = device_key(f"PJSIP/{event.endpoint}")
            if status in _CONTACT_DOWN:
                self._set(key, DeviceState.UNAVAILABLE, event.ts)
            elif status in _CONTACT_UP:
                current = self.by_device.get(key)
                if current is None or current in UNREACHABLE or current is DeviceState.UNKNOWN:
                    self._set(key, DeviceState.NOT_INUSE, event.ts)
            return True
        return False

    def state_of(self, agent: AgentProfile) -> DeviceState | None:
        """The phone's state: its device's, else its extension's hint, else None (unknown)."""
        if agent.device:
            state = self.by_device.get(device_key(agent.device))
            if state is not None:
                return state
        if agent.extension:
            return self.by_extension.get(agent.extension)
        return None

    def _set(self, key: str, state: DeviceState, ts: float) -> None:
        self.by_device[key] = state
        self.changed_at[key] = ts
