"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", sent as `X-CTI-Signature`.

The header reads `t=<unix seconds>,v1=<hex digest>`; receivers recompute the digest with their
secret, compare in constant time and refuse timestamps too far from their clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-CTI-Signature"
EVENT_ID_HEADER = "X-CTI-Event-Id"
EVENT_TYPE_HEADER = "X-CTI-Event"
#: a receiver should refuse a signature older (or newer) than this many seconds
DEFAULT_TOLERANCE = 300


class BadSignature(ValueError):
    """The signature header is missing, malformed, stale or does not match."""


def digest(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` keyed with `secret`."""
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-CTI-Signature` value for `body` sent at `timestamp`."""
    return f"t={int(timestamp)},v1={digest(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, *, now: float, tolerance: int = DEFAULT_TOLERANCE
) -> int:
    """Check a received signature; returns its timestamp, or raises BadSignature."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise BadSignature("no timestamp (t=...) in the signature header") from None
    if abs(now - timestamp) > tolerance:
        raise BadSignature(f"timestamp {timestamp} is more than {tolerance} s from now")
    expected = digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        raise BadSignature("no v1 signature matches the body")
    return timestamp


__all__ = [
    "DEFAULT_TOLERANCE",
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "BadSignature",
    "digest",
    "signature_header",
    "verify",
]
