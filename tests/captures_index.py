"""The AMI captures of tests/captures/ and the records each states in `NAME.expected.json`."""

from __future__ import annotations

import json
import os
from pathlib import Path

CAPTURES = Path(os.environ.get("CTI_CAPTURES", Path(__file__).resolve().parent / "captures"))

#: the sample shared with the specification (the reports tests count its calls by hand)
SAMPLE = (
    "00a_login_ok_ping_logoff.ami",
    "00b_login_failed.ami",
    "01_inbound_answered_by_101_caller_hangs_up.ami",
    "02_inbound_101_no_answer_then_duty_199_answers.ami",
    "03_inbound_caller_hangs_up_while_ringing_missed.ami",
    "05_queue_support_abandoned_by_caller.ami",
    "06_queue_support_answered_by_102.ami",
    "07_click2call_originate_102_then_external.ami",
    "10_coreshowchannels_and_queuestatus_responses.ami",
    "12_inbound_routed_by_fastagi_to_102.ami",
    "13_inbound_short_abandon_after_1_5s_ringing_101.ami",
    "18_internal_call_101_to_102_answered.ami",
)


def expected_path(capture: Path) -> Path:
    return capture.with_name(capture.stem + ".expected.json")


def expected(directory: Path = CAPTURES) -> dict[str, list[dict]]:
    """Capture name -> its calls. A folder with one `expected.json` (the shared transcripts)
    is read from that index instead."""
    index = directory / "expected.json"
    if index.exists():
        return json.loads(index.read_text(encoding="utf-8"))
    return {
        path.name: json.loads(expected_path(path).read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.ami"))
        if expected_path(path).exists()
    }


EXPECTED = expected()
SAMPLE_EXPECTED = {name: EXPECTED[name] for name in SAMPLE if name in EXPECTED}
