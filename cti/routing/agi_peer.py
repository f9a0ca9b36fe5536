"""The Asterisk side of FastAGI, for tests and the benchmark: sends a channel's environment
the way res_agi does and answers each command as Asterisk would (`200 result=1`)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

_WORD = re.compile(r'(?:"[^"]*"|[^\s"])+')


def parse_args(line: str) -> list[str]:
    """A command line split as res_agi's parse_args does: whitespace separates, double quotes
    group (a quote after whitespace starts a word, even an empty one), backslash escapes."""
    if "\\" not in line and line.count('"') % 2 == 0:  # the common case, at C speed
        return [w.replace('"', "") for w in _WORD.findall(line)]
    words: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    in_word = False
    for ch in line:
        if escaped:
            current.append(ch)
            escaped, in_word = False, True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            in_word = True
        elif ch in " \t" and not quoted:
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(ch)
            in_word = True
    if in_word:
        words.append("".join(current))
    return words


def channel_env(
    *,
    script: str = "route",
    host: str = "127.0.0.1",
    uniqueid: str = "1764000000.1",
    callerid: str = "unknown",
    calleridname: str = "unknown",
    extension: str = "s",
    dnid: str = "unknown",
    channel: str = "PJSIP/trunk-00000001",
    context: str = "from-trunk",
    args: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """The environment block of Asterisk 16-22 for a FastAGI call, in its order."""
    env = [
        ("agi_network", "yes"),
        ("agi_network_script", script),
        ("agi_request", f"agi://{host}/{script}"),
        ("agi_channel", channel),
        ("agi_language", "ru"),
        ("agi_type", channel.split("/", 1)[0]),
        ("agi_uniqueid", uniqueid),
        ("agi_version", "20.5.0"),
        ("agi_callerid", callerid),
        ("agi_calleridname", calleridname),
        ("agi_callingpres", "0"),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", dnid),
        ("agi_rdnis", "unknown"),
        ("agi_context", context),
        ("agi_extension", extension),
        ("agi_priority", "2"),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""),
        ("agi_threadid", "140254130812480"),
    ]
    env.extend((f"agi_arg_{n}", value) for n, value in enumerate(args, start=1))
    return env


@dataclass
class AgiSession:
    """What the AGI script did to the channel."""

    variables: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)


async def run_agi(
    host: str,
    port: int,
    env: Sequence[tuple[str, str]] | Mapping[str, str],
    *,
    hangup_after: int | None = None,
    reply: str = "200 result=1",
) -> AgiSession:
    """Connect as Asterisk does, send `env`, answer every command until the script closes.
    `hangup_after`: send `HANGUP` (the caller hung up) after that many commands."""
    reader, writer = await asyncio.open_connection(host, port)
    items = env.items() if isinstance(env, Mapping) else env
    block = "".join(f"{name}: {value}\n" for name, value in items) + "\n"
    writer.write(block.encode("utf-8"))
    session = AgiSession()
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            text = line.decode("utf-8").rstrip("\n")
            session.commands.append(text)
            words = parse_args(text)
            if len(session.commands) == hangup_after:
                writer.write(b"HANGUP\n")
            if [w.upper() for w in words[:2]] == ["SET", "VARIABLE"] and len(words) >= 4:
                session.variables[words[2]] = words[3]
                writer.write(f"{reply}\n".encode())
            else:
                writer.write(b"510 Invalid or unknown command\n")
    finally:
        writer.close()
        await writer.wait_closed()
    return session
