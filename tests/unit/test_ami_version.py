"""Which Asterisk speaks, from the AMI banner; Asterisk 11 and older cannot be tracked."""

from __future__ import annotations

import pytest

from cti.ami.version import asterisk_release, untested, untrackable


@pytest.mark.parametrize(
    ("banner", "release", "blocked", "warned"),
    [
        ("Asterisk Call Manager/1.1", "11 or older", True, False),
        ("Asterisk Call Manager/1.3", "11 or older", True, False),
        ("Asterisk Call Manager/2.10.6", "12-13", False, True),
        ("Asterisk Call Manager/4.0.3", "15", False, True),
        ("Asterisk Call Manager/5.0.1", "16", False, False),
        ("Asterisk Call Manager/9.0.0", "20", False, False),
        ("Asterisk Call Manager/11.0.0", "22", False, False),
        ("something else", "unknown", False, False),
    ],
)
def test_banner(banner: str, release: str, blocked: bool, warned: bool) -> None:
    assert asterisk_release(banner) == release
    assert (untrackable(banner) is not None) is blocked
    assert (untested(banner) is not None) is warned


def test_the_refusal_says_what_is_needed() -> None:
    text = untrackable("Asterisk Call Manager/1.3") or ""
    assert "AMI 1.3" in text and "Asterisk 12 or newer" in text and "16-22" in text
