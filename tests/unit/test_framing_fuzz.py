"""Property-based tests of AMI parsing: whatever bytes arrive (no colon, NUL bytes, huge
values, invalid UTF-8, any chunking), framing and decoding never raise, stay within their
limits, and keep the valid frames around the garbage."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti.ami.events import _BUILDERS, to_event
from cti.ami.framing import Frame, Framer, parse_frame
from cti.ami.ingest import EventStream

VALID = (
    b"Event: Newchannel\r\nTimestamp: 1795546744.610786\r\nChannel: PJSIP/trunk-00000000\r\n"
    b"ChannelStateDesc: Ring\r\nCallerIDNum: +79161234567\r\nCallerIDName: \xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd\r\n"
    b"Exten: 74952220101\r\nUniqueid: 1.0\r\nLinkedid: 1.0\r\n\r\n"
)

header_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
hostile_line = st.one_of(
    st.builds(lambda k, v: f"{k}: {v}", header_text, header_text),  # ordinary
    header_text,  # no colon at all
    st.builds(lambda k: f"{k}:", header_text),  # empty value
    st.builds(lambda k, n: f"{k}: " + "\x00" * n, header_text, st.integers(0, 50)),  # NUL bytes
    st.builds(lambda k, n: f"{k}: " + "V" * n, header_text, st.integers(0, 20_000)),  # huge value
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_line, max_size=30), st.integers(1, 40))
def test_parse_frame_never_raises_and_respects_the_header_limit(
    lines: list[str], limit: int
) -> None:
    frame = parse_frame("\r\n".join(lines), limit)
    if frame is None:
        return
    assert isinstance(frame, Frame)
    assert 1 <= len(frame) + len(frame.extra) <= limit
    for key, value in [*frame.items(), *frame.extra]:
        assert isinstance(key, str) and isinstance(value, str)
        assert "\r\n" not in key and "\r\n" not in value


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.binary(max_size=3000) | st.just(VALID) | st.just(b"\r\n\r\n"), max_size=25),
    st.lists(st.integers(1, 5000), min_size=1, max_size=10),
)
def test_framer_survives_arbitrary_bytes_in_arbitrary_chunks(
    parts: list[bytes], sizes: list[int]
) -> None:
    limit = 2048
    frames: list[Frame] = []
    framer = Framer(
        on_frame=frames.append, on_banner=lambda b: None, max_frame_bytes=limit, max_headers=64
    )
    data = b"".join(parts)
    at, i = 0, 0
    while at < len(data):
        size = sizes[i % len(sizes)]
        framer.feed(data[at : at + size])
        assert len(framer._buffer) <= limit + 3 + size  # bounded by the limit and one read
        at, i = at + size, i + 1
    assert framer.stats.bytes == len(data)
    assert all(1 <= len(f) + len(f.extra) <= 64 for f in frames)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=500), max_size=10))
def test_valid_frames_survive_garbage_between_them(garbage: list[bytes]) -> None:
    events: list = []
    stream = EventStream(on_event=events.append)
    for junk in garbage:
        # garbage ends at a frame boundary, as a broken peer's output eventually does
        stream.feed(junk.replace(b"\r\n\r\n", b"") + b"\r\n\r\n" + VALID, 0.0)
    names = [e.caller_name for e in events if type(e).__name__ == "Newchannel"]
    assert names.count("Иван") == len(garbage)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(_BUILDERS)),
    st.dictionaries(
        st.sampled_from(
            [
                "Channel",
                "Uniqueid",
                "Linkedid",
                "CallerIDNum",
                "CallerIDName",
                "Exten",
                "Timestamp",
                "DestChannel",
                "DialStatus",
                "Cause",
                "BridgeUniqueid",
                "Variable",
                "Value",
                "Queue",
                "Interface",
                "EventList",
                "ActionID",
            ]
        ),
        st.text(max_size=30) | st.sampled_from(["", "nan", "inf", "-1", "1e400", "\x00", "PJSIP/"]),
        max_size=12,
    ),
)
def test_every_event_builder_takes_any_header_values(name: str, headers: dict[str, str]) -> None:
    frame = Frame()
    frame["Event"] = name
    frame.update(headers)
    to_event(frame, 1_795_546_744.0)  # may be None or an event; must not raise
