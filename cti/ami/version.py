"""Which Asterisk is on the other end, from the AMI banner, and whether cti can track its calls."""

from __future__ import annotations

import re

_BANNER = re.compile(r"Asterisk Call Manager/(\d+)\.(\d+)")

#: AMI protocol major version -> the Asterisk release that speaks it (AMI 2 is Asterisk 12-13)
_ASTERISK = {2: "12-13", 3: "14", 4: "15", 5: "16", 6: "17", 7: "18", 8: "19", 9: "20", 10: "21"}
_ASTERISK.update({11: "22"})
#: AMI 5 (Asterisk 16) to 11 (Asterisk 22) are tested; AMI 2-4 have every event cti needs
SUPPORTED = (5, 11)


def ami_version(banner: str) -> tuple[int, int] | None:
    match = _BANNER.search(banner)
    return (int(match.group(1)), int(match.group(2))) if match else None


def asterisk_release(banner: str) -> str:
    version = ami_version(banner)
    if version is None:
        return "unknown"
    if version[0] < 2:
        return "11 or older"
    return _ASTERISK.get(version[0], f"newer than 22 (AMI {version[0]})")


def untrackable(banner: str) -> str | None:
    """Why cti cannot track calls on this PBX (Asterisk 11 and older: no Linkedid, no
    DialBegin/BridgeEnter), or None."""
    version = ami_version(banner)
    if version is None or version[0] >= 2:
        return None
    return (
        f"the PBX speaks AMI {version[0]}.{version[1]} (Asterisk 11 or older): cti needs "
        "Asterisk 12 or newer (16-22 supported) to track calls, and records none from this PBX; "
        "upgrade Asterisk"
    )


def untested(banner: str) -> str | None:
    """A warning for Asterisk 12-15, which cti can track but is not tested on."""
    version = ami_version(banner)
    if version is None or not 2 <= version[0] < SUPPORTED[0]:
        return None
    return (
        f"the PBX is Asterisk {asterisk_release(banner)} (AMI {version[0]}.{version[1]}): cti "
        "tracks its calls but is tested on Asterisk 16-22"
    )
