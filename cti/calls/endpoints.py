"""Which channels are trunks and which are agents' phones, from the channel name and settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

from cti.calls.model import EndpointKind

_SUFFIX = re.compile(r"-[0-9a-fA-F]{4,}(;\d)?$")


@dataclass(frozen=True)
class TrackingRules:
    """The settings the call machine depends on; built once from `Settings`."""

    trunk_endpoints: tuple[str, ...] = ("trunk*",)
    agent_endpoints: tuple[str, ...] = (
        "[0-9][0-9]",
        "[0-9][0-9][0-9]",
        "[0-9][0-9][0-9][0-9]",
    )
    did_variables: tuple[str, ...] = ("CTI_DID", "__CTI_DID", "FROM_DID", "__FROM_DID")
    recording_variables: tuple[str, ...] = ("MIXMONITOR_FILENAME", "CTI_RECORDING")
    #: a dialplan sets one of these (to anything but 0/no/false) when the line is closed
    out_of_hours_variables: tuple[str, ...] = ("CTI_OUT_OF_HOURS", "__CTI_OUT_OF_HOURS")
    short_abandon_seconds: float = 5.0
    default_region: str = "RU"

    def classify(self, channel: str) -> tuple[EndpointKind, str]:
        """(kind, endpoint) of a channel name or a dial interface such as `PJSIP/101`."""
        return _classify(channel, self.trunk_endpoints, self.agent_endpoints)

    @property
    def status_variables(self) -> tuple[str, ...]:
        """What a resync asks `Status` for: Asterisk's start and answer times of each live
        channel, and the variables that carry the DID and a closed line."""
        names = [v.lstrip("_") for v in (*self.did_variables, *self.out_of_hours_variables)]
        return (*dict.fromkeys(names), "CDR(start,u)", "CDR(answer,u)")

    def is_extension(self, number: str) -> bool:
        """An agent's extension rather than an external number (used for dialled numbers)."""
        return bool(number) and any(fnmatchcase(number, p) for p in self.agent_endpoints)


def _classify(
    channel: str, trunks: tuple[str, ...], agents: tuple[str, ...]
) -> tuple[EndpointKind, str]:
    name = channel.split("<", 1)[0]  # "PJSIP/102-00000003<ZOMBIE>" after a masquerade
    tech, sep, rest = name.partition("/")
    if not sep:
        return EndpointKind.OTHER, name
    if tech.lower() == "local":
        # Local/101@from-queue-0000001a;1, or the interface Local/101@from-queue/n
        return EndpointKind.LOCAL, rest.split("@", 1)[0]
    # cache by endpoint, not by channel: every channel name is new, endpoints are few
    return _classify_endpoint(tech, _SUFFIX.sub("", rest), trunks, agents)


@lru_cache(maxsize=4096)
def _classify_endpoint(
    tech: str, endpoint: str, trunks: tuple[str, ...], agents: tuple[str, ...]
) -> tuple[EndpointKind, str]:
    if tech.upper() == "DAHDI":
        return EndpointKind.TRUNK, endpoint
    if any(fnmatchcase(endpoint, p) for p in trunks):
        return EndpointKind.TRUNK, endpoint
    if any(fnmatchcase(endpoint, p) for p in agents):
        return EndpointKind.AGENT, endpoint
    # A named endpoint that is neither: on a typical PBX phones are numbered and
    # providers are named, so an unknown name is an outside line.
    if tech.upper() in ("PJSIP", "SIP", "IAX2", "IAX", "H323", "OOH323", "MOBILE", "UNISTIM"):
        return EndpointKind.TRUNK, endpoint
    return EndpointKind.OTHER, endpoint


def interface_agent(rules: TrackingRules, interface: str) -> str | None:
    """The agent behind a queue member interface: PJSIP/101, SIP/101, Local/101@ctx/n."""
    kind, endpoint = rules.classify(interface)
    if kind is EndpointKind.AGENT:
        return endpoint
    if kind is EndpointKind.LOCAL and rules.is_extension(endpoint):
        return endpoint
    return None


def dialled_number(dest_exten: str, dial_string: str) -> str:
    """The number a trunk leg dials: DestExten, else from `89161234567@trunk` or `trunk/8916...`."""
    if dest_exten and dest_exten != "s":
        return dest_exten
    head = dial_string.split("@", 1)[0]
    return head.rsplit("/", 1)[-1]
