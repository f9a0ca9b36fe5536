"""`cti route`, `cti agent`, `cti duty` and `cti import duty` as an administrator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cti.db.migrate import upgrade
from cti.db.models import Agent, Customer, CustomerPhone
from cti.db.session import create_engine, session_factory


def cti(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cti.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=120,
        check=False,
    )


async def seed(url: str) -> None:
    await upgrade(url)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s, s.begin():
            s.add_all(
                [
                    Agent(
                        login="ivanova",
                        name="Ivanova",
                        extension="101",
                        device="PJSIP/101",
                        mobile="+79167654321",
                        teams=["sales"],
                        seniority=2,
                    ),
                    Agent(
                        login="kozlov",
                        name="Kozlov",
                        extension="103",
                        device="PJSIP/103",
                        teams=["sales"],
                    ),
                    Agent(
                        login="smirnova",
                        name="Smirnova",
                        extension="150",
                        device="PJSIP/150",
                        teams=["duty"],
                    ),
                    Agent(
                        login="petrov",
                        name="Petrov",
                        extension="199",
                        device="PJSIP/199",
                        teams=["duty"],
                    ),
                ]
            )
            customer = Customer(
                name="Иван Сергеевич", company="Уютный дом", manager_login="ivanova"
            )
            customer.phones = [CustomerPhone(e164="+79161234567", raw="8 916 123-45-67")]
            s.add(customer)
    finally:
        await engine.dispose()


async def test_an_administrator_sets_up_duty_and_asks_where_calls_go(
    database_url: str, tmp_path: Path
) -> None:
    await seed(database_url)
    env = {
        "CTI_DATABASE_URL": database_url,
        "CTI_ROUTING_DID_RULES": "74951112233=sales",
        "CTI_TIMEZONE": "Europe/Moscow",
    }
    rota = tmp_path / "duty.csv"
    rota.write_text(
        "login,days,start,end\nsmirnova,mon-fri,12:00,14:00\n"
        "ghost,sat,10:00,12:00\npetrov,daily,20:00,25:00\n",
        encoding="utf-8",
    )
    bad = cti("import", "duty", str(rota), env=env, cwd=tmp_path)
    assert bad.returncode == 1
    assert f"{rota}:3: no agent with login 'ghost'" in bad.stderr
    assert f"{rota}:4: time '25:00'" in bad.stderr and "nothing imported" in bad.stderr
    rota.write_text(
        "login,days,start,end\nsmirnova,mon-fri,12:00,14:00\npetrov,daily,20:00,08:00\n",
        encoding="utf-8",
    )
    good = cti("import", "duty", str(rota), env=env, cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert "the rota is now 2 duty row(s)" in good.stdout

    lunch = ["--at", "2026-11-24T12:30"]
    out = cti(
        "route", "8 916 123-45-67", "--did", "74951112233", *lunch, "--json", env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    decision = json.loads(out.stdout)
    assert [(t["kind"], t["dial"]) for t in decision["targets"]] == [
        ("manager", "PJSIP/101"),
        ("manager_mobile", "Local/79167654321@cti-followme"),
        ("duty", "PJSIP/150"),
        ("voicemail", "100@default"),
    ]
    assert decision["customer"]["company"] == "Уютный дом"
    assert decision["variables"]["CTI_TARGET_COUNT"] == "4"

    state = cti("agent", "state", "ivanova", "paused:lunch", env=env, cwd=tmp_path)
    assert state.returncode == 0 and "ivanova is paused (lunch) since" in state.stdout
    human = cti("route", "+79161234567", "--did", "74951112233", *lunch, env=env, cwd=tmp_path)
    assert "duty operator Smirnova: account manager Ivanova is away (lunch)" in human.stdout
    what_if = cti(
        "route",
        "+79990001122",
        "--did",
        "74951112233",
        *lunch,
        "--state",
        "kozlov=busy",
        "--state",
        "smirnova=offline",
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert [t["kind"] for t in json.loads(what_if.stdout)["targets"]] == ["voicemail"]
    night = cti("duty", "now", "--at", "2026-11-25T03:00", env=env, cwd=tmp_path)
    assert night.stdout.startswith("petrov (Petrov): daily 20:00-08:00")
    afternoon = cti("duty", "now", "--at", "2026-11-24T15:00", env=env, cwd=tmp_path)
    assert afternoon.stdout.strip() == "nobody is on duty now; next: Petrov at 20:00"
    saturday = cti("duty", "now", "--at", "2026-11-28T09:00", env=env, cwd=tmp_path)
    assert saturday.stdout.strip() == "nobody is on duty now; next: Petrov at 20:00"
    history = cti("agent", "history", "ivanova", "--json", env=env, cwd=tmp_path)
    assert json.loads(history.stdout)["totals"][0]["reason"] == "lunch"
    listed = cti("duty", "list", env=env, cwd=tmp_path)
    assert (
        listed.stdout
        == "login,days,start,end\nsmirnova,mon-fri,12:00,14:00\npetrov,daily,20:00,08:00\n"
    )

    wrong = cti("route", "1", "--state", "ghost=offline", env=env, cwd=tmp_path)
    assert wrong.returncode == 2 and "no agent with login 'ghost'" in wrong.stderr
    odd = cti("agent", "state", "ivanova", "lunch", env=env, cwd=tmp_path)
    assert odd.returncode == 2 and "e.g. paused:lunch" in odd.stderr
    typo = cti("agent", "state", "ghost", "offline", env=env, cwd=tmp_path)
    assert typo.returncode == 2 and "no agent with login 'ghost'" in typo.stderr
