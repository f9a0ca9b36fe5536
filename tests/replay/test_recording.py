"""A call the dialplan records (MixMonitor) carries the recording's file name to its record, and
from there a link (recording_url_template) to the webhooks and the pop: capture 01 with the
VarSet a real Asterisk sends when MixMonitor starts on the answered call."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cti.calls.endpoints import TrackingRules
from cti.calls.replay import replay_files
from cti.webhooks import model
from cti.webhooks.links import Links
from tests.webhooks_world import payload_errors

CAPTURE = (
    Path(__file__).resolve().parents[1]
    / "captures"
    / "01_inbound_answered_by_101_caller_hangs_up.ami"
)
FILE = "/var/spool/asterisk/monitor/20261125-094546-1795546744.0.wav"


def with_mixmonitor(data: bytes, variable: str) -> bytes:
    """Capture 01 with a VarSet of `variable` on the trunk channel once it is bridged, as
    `MixMonitor(${STRFTIME(...)}-${UNIQUEID}.wav)` in the dialplan makes Asterisk send."""
    frames = data.split(b"\r\n\r\n")
    at = next(
        n
        for n, f in enumerate(frames)
        if b"Event: BridgeEnter" in f and b"Channel: PJSIP/trunk" in f
    )
    varset = (
        b"Event: VarSet\r\nPrivilege: dialplan,all\r\nTimestamp: 1795546746.620000\r\n"
        b"Channel: PJSIP/trunk-00000000\r\nChannelState: 6\r\nChannelStateDesc: Up\r\n"
        b"CallerIDNum: +79161234567\r\nCallerIDName: +79161234567\r\nConnectedLineNum: 101\r\n"
        b"ConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: from-trunk\r\n"
        b"Exten: 74952220101\r\nPriority: 4\r\nUniqueid: 1795546744.0\r\nLinkedid: 1795546744.0\r\n"
        b"Variable: " + variable.encode() + b"\r\nValue: " + FILE.encode()
    )
    frames.insert(at + 1, varset)
    return b"\r\n\r\n".join(frames)


@pytest.mark.parametrize("variable", ["MIXMONITOR_FILENAME", "CTI_RECORDING"])
@pytest.mark.parametrize("chunk_size", [None, 7])
def test_a_recorded_call_keeps_its_file_and_links_to_it(
    tmp_path: Path, variable: str, chunk_size: int | None
) -> None:
    capture = tmp_path / "recorded.ami"
    capture.write_bytes(with_mixmonitor(CAPTURE.read_bytes(), variable))
    (call,) = list(replay_files([capture], rules=TrackingRules(), chunk_size=chunk_size))
    assert call.recording == FILE and call.outcome.value == "answered"
    links = Links(recording_url_template="https://pbx.example/recordings/{file}")
    url = links.recording_url(call.recording, call.linkedid)
    assert url == "https://pbx.example/recordings/20261125-094546-1795546744.0.wav"
    event = model.call_ended(call, at=datetime.now(UTC), recording_url=url)
    assert payload_errors(event.payload()) == []
    assert event.payload()["data"]["call"]["recording"] == FILE


def test_an_unrecorded_call_has_no_recording() -> None:
    (call,) = list(replay_files([CAPTURE], rules=TrackingRules()))
    assert call.recording is None
    assert (
        Links(recording_url_template="https://pbx.example/recordings/{file}").recording_url(
            call.recording
        )
        is None
    )
