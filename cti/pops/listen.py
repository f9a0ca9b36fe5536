"""`cti listen`: one agent's screen-pops from the /ws feed as JSON lines, for a desktop CRM's
script. A websockets client: signs in with a bearer token in the handshake, resumes after a drop
(`?since=&stream=`) so nothing is missed or repeated, stops on a refused token."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

#: what a pop's life is made of: rings, the card's update, answered, moved, ended
POP_TYPES = frozenset(
    {"call.ringing", "pop.updated", "call.answered", "call.transferred", "call.ended"}
)


class ListenRefused(RuntimeError):
    """The server refused the token or the request: reconnecting would not help."""


def feed_url(base: str, since: int | None, stream: str | None) -> str:
    """ws(s)://HOST/ws from the server's http(s) URL, with the resume position if any."""
    parts = urlsplit(base if "://" in base else f"http://{base}")
    scheme = {"https": "wss", "wss": "wss"}.get(parts.scheme, "ws")
    query = urlencode({"since": since, "stream": stream}) if since is not None and stream else ""
    return urlunsplit((scheme, parts.netloc, "/ws", query, ""))


def wanted(message: dict[str, Any], agent: str | None, everything: bool) -> bool:
    """A pop of `agent` (any agent's with None); every message with `everything`."""
    if everything:
        return message.get("type") not in ("snapshot", "resume")
    if message.get("type") not in POP_TYPES or "agent" not in message:
        return False  # a board's call.ended without "agent" is not a pop's end
    return agent is None or message.get("agent") == agent


async def listen(
    base_url: str,
    token: str,
    *,
    agent: str | None = None,
    everything: bool = False,
    emit: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
    reconnect_max: float = 30.0,
) -> None:
    """Print each wanted message (one JSON object a line) until cancelled. Pops already open at
    connect time come first, as `{"type": "pop.open", "pop": ...}`."""
    since: int | None = None
    stream: str | None = None
    delay = 0.5
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        url = feed_url(base_url, since, stream)
        try:
            async with connect(url, additional_headers=headers, open_timeout=10) as ws:
                delay = 0.5
                async for text in ws:
                    message = json.loads(text)
                    if isinstance(message.get("seq"), int):
                        since = message["seq"]
                    if message.get("type") in ("snapshot", "resume"):
                        stream = message.get("stream")
                    if message.get("type") == "snapshot":  # what was open when we (re)joined
                        for pop in message.get("pops", []):
                            if agent is None or pop.get("agent", {}).get("login") == agent:
                                emit(
                                    json.dumps({"type": "pop.open", "pop": pop}, ensure_ascii=False)
                                )
                    if wanted(message, agent, everything):
                        emit(json.dumps(message, ensure_ascii=False))
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (400, 401, 403):
                raise ListenRefused(
                    f"the server refused the feed ({status}): {_detail(exc)}"
                ) from None
            warn(f"cti listen: the server answered {status}; retrying in {delay:.1f} s")
        except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as exc:
            warn(f"cti listen: {exc.__class__.__name__} at {url}; retrying in {delay:.1f} s")
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))
        delay = min(delay * 2, reconnect_max)


def _detail(exc: InvalidStatus) -> str:
    try:
        body = json.loads(exc.response.body or b"{}")
    except ValueError:
        return "no detail"
    return str(body.get("detail") or "no detail")
