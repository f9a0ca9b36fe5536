"""AMI framing: UTF-8 intact under any chunking, hostile frames bounded, garbage survived."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cti.ami.events import Newchannel, SessionStarted
from cti.ami.framing import Framer
from cti.ami.ingest import EventStream

NEWCHANNEL = (
    "Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: 1795546744.610786\r\n"
    "Channel: PJSIP/trunk-00000000\r\nChannelStateDesc: Ring\r\nCallerIDNum: +79161234567\r\n"
    "CallerIDName: Иван Сергеевич «Уютный дом» 🏠\r\nContext: from-trunk\r\nExten: 74952220101\r\n"
    "Uniqueid: 1795546744.0\r\nLinkedid: 1795546744.0\r\n\r\n"
).encode()
STREAM = (
    b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nMessage: Authentication accepted\r\n\r\n"
    + NEWCHANNEL * 3
)


def _events(chunks: list[bytes]) -> list:
    out: list = []
    stream = EventStream(on_event=out.append)
    for chunk in chunks:
        stream.feed(chunk, 0.0)
    return out


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0), max_size=40))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    events = _events(_split(STREAM, cuts))
    assert isinstance(events[0], SessionStarted)
    calls = [e for e in events if isinstance(e, Newchannel)]
    assert len(calls) == 3
    assert all(e.caller_name == "Иван Сергеевич «Уютный дом» 🏠" for e in calls)


def test_byte_at_a_time_keeps_cyrillic() -> None:
    events = _events([STREAM[i : i + 1] for i in range(len(STREAM))])
    assert [e.caller_name for e in events if isinstance(e, Newchannel)] == [
        "Иван Сергеевич «Уютный дом» 🏠"
    ] * 3


def test_two_event_headers_keep_the_first_and_do_not_break_the_stream() -> None:
    frame = NEWCHANNEL.replace(b"Privilege:", b"Event: Hangup\r\nPrivilege:")
    events = _events([frame + NEWCHANNEL])
    assert [type(e).__name__ for e in events] == ["Newchannel", "Newchannel"]


def test_oversized_frame_is_dropped_and_the_next_frame_survives() -> None:
    seen: list = []
    framer = Framer(on_frame=seen.append, on_banner=lambda b: None, max_frame_bytes=4096)
    framer.feed(b"Event: Flood\r\nX: " + b"A" * 10_000)
    framer.feed(b"A" * 100_000)  # a line with no end: memory stays bounded
    assert len(framer._buffer) < 4096 + 10
    framer.feed(b"\r\n\r\n" + NEWCHANNEL)
    assert framer.stats.oversized == 1
    assert [f["Event"] for f in seen] == ["Newchannel"]


def test_binary_garbage_and_headerless_frames_are_counted_not_fatal() -> None:
    seen: list = []
    framer = Framer(on_frame=seen.append, on_banner=lambda b: None)
    framer.feed(
        b"\xff\xfe\x00garbage\r\n\r\n"
        + b"Event: Newchannel\r\nCallerIDName: \xd0\x98\xff\r\n\r\n"
        + NEWCHANNEL
    )
    assert framer.stats.malformed == 1 and framer.stats.undecodable == 2
    assert [f["Event"] for f in seen] == ["Newchannel", "Newchannel"]


def test_a_million_headers_is_refused() -> None:
    seen: list = []
    framer = Framer(on_frame=seen.append, on_banner=lambda b: None, max_frame_bytes=50_000_000)
    framer.feed(b"Event: Newchannel\r\n" + b"H: v\r\n" * 1_000_000 + b"\r\n")
    assert seen == [] and framer.stats.malformed == 1


def test_uninteresting_events_are_skipped_before_decoding() -> None:
    varset = b"Event: VarSet\r\nChannel: X\r\nVariable: FOO\r\nValue: 1\r\nUniqueid: 1\r\nLinkedid: 1\r\n\r\n"
    did = b"Event: VarSet\r\nChannel: X\r\nVariable: CTI_DID\r\nValue: 700\r\nUniqueid: 1\r\nLinkedid: 1\r\n\r\n"
    out: list = []
    stream = EventStream(on_event=out.append, variables=("CTI_DID",))
    stream.feed(varset + b"Event: Newexten\r\nX: y\r\n\r\n" + did, 0.0)
    assert [getattr(e, "variable", None) for e in out] == ["CTI_DID"]
    assert stream.stats.skipped == 2


def test_events_without_timestamp_get_receipt_time_on_the_event_scale() -> None:
    out: list = []
    stream = EventStream(on_event=out.append)
    stream.feed(NEWCHANNEL, 50.0)
    stream.feed(NEWCHANNEL.replace(b"Timestamp: 1795546744.610786\r\n", b""), 52.5)
    assert out[0].ts == 1795546744.610786 and abs(out[1].ts - (1795546744.610786 + 2.5)) < 1e-6
