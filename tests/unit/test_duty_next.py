"""The next duty shift after a moment (what `cti duty now` says when nobody is on duty)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from cti.routing.schedules import make_shift, next_duty

MSK = ZoneInfo("Europe/Moscow")


def test_the_next_shift_is_today_later_or_on_a_later_day() -> None:
    rota = [
        make_shift("smirnova", "mon-fri", "12:00", "14:00"),
        make_shift("kozlov", "sat", "10:00", "18:00"),
    ]
    friday_evening = datetime(2026, 11, 27, 15, 0, tzinfo=MSK)
    begins, shifts = next_duty(rota, friday_evening) or (None, ())
    assert begins == datetime(2026, 11, 28, 10, 0, tzinfo=MSK)
    assert [s.login for s in shifts] == ["kozlov"]
    monday_morning = datetime(2026, 11, 30, 9, 0, tzinfo=MSK)
    assert next_duty(rota, monday_morning) == (
        datetime(2026, 11, 30, 12, 0, tzinfo=MSK),
        (rota[0],),
    )
    assert next_duty([], monday_morning) is None
