"""`cti import shifts|hours|holidays`, `cti shifts`, `cti hours` and `cti route --at` reading them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_routing_cli import cti, seed

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//production calendar//RU\r\n"
    "BEGIN:VEVENT\r\nUID:ny@2027\r\nDTSTART;VALUE=DATE:20270101\r\nDTEND;VALUE=DATE:20270109\r\n"
    "SUMMARY:New Year holiday\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


async def test_route_at_night_on_a_holiday_and_at_lunch(database_url: str, tmp_path: Path) -> None:
    await seed(database_url)
    env = {
        "CTI_DATABASE_URL": database_url,
        "CTI_ROUTING_DID_RULES": "74951112233=sales",
        "CTI_TIMEZONE": "Europe/Moscow",
    }
    files = {
        "duty.csv": "login,days,start,end\nsmirnova,mon-fri,12:00,14:00\n"
        "petrov,daily,20:00,09:00\npetrov,2027-01-04,09:00,20:00\n",
        "hours.csv": "line,days,hours,name\nsales,mon-fri,09:00-19:00,\n",
        "shifts.csv": "who,days,hours,note\n@sales,mon-fri,09:00-18:00,\n"
        "kozlov,2026-11-24,off,sick day\n",
        "bad.csv": "who,days,hours\nghost,mon,09:00-18:00\n@nobody,mon,09:00-18:00\n",
        "holidays.ics": ICS,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")

    def run(*args: str) -> str:
        done = cti(*args, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("import", "duty", "duty.csv")
    assert "the calendar is now 1 row(s)" in run("import", "hours", "hours.csv")
    assert "the holidays are now 1 row(s)" in run("import", "holidays", "holidays.ics")
    assert "the shifts are now 2 row(s)" in run("import", "shifts", "shifts.csv")
    bad = cti("import", "shifts", "bad.csv", env=env, cwd=tmp_path)
    assert bad.returncode == 1
    assert "bad.csv:2: no agent with login 'ghost'" in bad.stderr
    assert "bad.csv:3: no agent is in team 'nobody'" in bad.stderr
    assert "ghost" not in run("shifts", "list")
    assert "*,2027-01-01..2027-01-08,closed,New Year holiday" in run("hours", "list")

    # 02:00: closed; the unknown caller goes straight to the night duty operator, no sales desk
    night = json.loads(
        run("route", "+79990001122", "--did", "74951112233", "--at", "2026-11-24T02:00", "--json")
    )
    assert night["closed"] is True
    assert [(t["kind"], t["agent"]) for t in night["targets"]] == [
        ("duty", "petrov"),
        ("voicemail", None),
    ]
    assert night["variables"]["CTI_OUT_OF_HOURS"] == "1"
    assert night["closed_reason"] == "closed: outside business hours (opens 09:00)"

    # a holiday Monday: the duty rota's exception puts Petrov on; the reason names the holiday
    holiday = run("route", "+79990001122", "--did", "74951112233", "--at", "2027-01-04T11:00")
    assert "line closed: New Year holiday (opens 2027-01-11 09:00)" in holiday
    assert "duty operator Petrov: closed: New Year holiday" in holiday

    # lunch on a working Tuesday: open; Kozlov is off sick, Ivanova is at lunch
    run("agent", "state", "ivanova", "paused", "--reason", "lunch")
    lunch = json.loads(
        run("route", "+79161234567", "--did", "74951112233", "--at", "2026-11-24T12:30", "--json")
    )
    assert lunch["closed"] is False and "CTI_OUT_OF_HOURS" not in lunch["variables"]
    assert [t["agent"] for t in lunch["targets"] if t["kind"] == "duty"] == ["smirnova"]
    human = run("route", "+79990001122", "--did", "74951112233", "--at", "2026-11-24T12:30")
    assert "nobody in team sales is available (Kozlov off shift)" in human

    # 18:30: the line is open till 19:00 but the sales shift ended at 18:00
    evening = run("route", "+79990001122", "--did", "74951112233", "--at", "2026-11-24T18:30")
    assert "nobody in team sales is on shift" in evening

    status = run("hours", "status", "--did", "74951112233", "--at", "2027-01-02T12:00")
    assert "74951112233 (team sales): closed: New Year holiday" in status
    shifts = run("shifts", "now", "--at", "2026-11-24T10:00")
    assert "kozlov           off  Kozlov is off shift (sick day)" in shifts
    assert "ivanova          on   Ivanova is on shift until 18:00" in shifts
    assert "petrov           -    no shifts: always working" in shifts
